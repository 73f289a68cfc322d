"""Fixtures of the search tests: a real multi-node Ray cluster on loopback (cluster and
node-loss tests) and the small sweep the report and review tests read (``swept``).

``ray start`` binds to the machine's network address, which tests never use, and refuses to add
worker nodes under ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; Ray's own
``ray.cluster_utils.Cluster`` starts a real GCS and one raylet per node, all on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers import (
    REPO,
    REVIEWED_EXPERIMENT,
    REVIEWED_METRIC,
    sweep_command,
    write_klue_slice,
)

NODE_NAMES = ("node_a", "node_b")


@contextmanager
def started_two_node_cluster() -> Iterator[tuple]:
    """A head that runs no trials (as the compose head) and two 1-CPU worker nodes, each with
    a custom resource named after it: ``(cluster, {name: node})``; the test process does not
    join it (the driver under test does, through ``ray.address``)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        nodes = {name: cluster.add_node(num_cpus=1, resources={name: 1}) for name in NODE_NAMES}
        cluster.wait_for_nodes()
        yield cluster, nodes
    finally:
        cluster.shutdown()


@pytest.fixture
def two_node_cluster():
    """A cluster of its own (``started_two_node_cluster``), for a test that changes it."""
    with started_two_node_cluster() as started:
        yield started


@pytest.fixture(scope="class")
def shared_two_node_cluster():
    """One cluster for a class of tests that leave it as they found it (their drivers come and
    go): starting a cluster costs tens of seconds on 2 cores. Shut down when the class ends."""
    with started_two_node_cluster() as started:
        yield started


@pytest.fixture(scope="session")
def swept(raw_train, klue_dir, tmp_path_factory):
    """A 5-trial sweep over ce/focal/label_smoothing on real KLUE slices, tracked in SQLite: what
    the report and review tests read. Yields ``(folder, store URI, the sweep's overrides)``."""
    tmp_path = tmp_path_factory.mktemp("report")
    folder = write_klue_slice(
        tmp_path / "klue_slice", klue_dir, raw_train[:500], raw_train[500:620]
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, REVIEWED_EXPERIMENT,
        "search.num_samples=5", "search.space.num_train_epochs.int=[1, 2]",
        f"search.metric={REVIEWED_METRIC}",
    )  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    overrides = [arg for arg in command[command.index("--set") :] if arg != "--set"]
    return tmp_path, store, overrides
