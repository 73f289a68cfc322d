"""The sweep on a real two-node Ray cluster (loopback) with a real MLflow server over HTTP.

The driver joins the cluster through ``ray.address`` as ``ray job submit`` would; trials land on
both worker nodes, each trial tags its MLflow run with the node it ran on, a node killed
mid-trial costs only the epochs since its last checkpoint, and a cluster the trials could not
use (unshared storage, a local tracking store) is refused before any trial.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.support import wait_until
from tests.helpers import REPO, run_in_repo, sweep_command, sweep_runs, trial_folders
from trainable.common.tracking import NODE_TAG

pytestmark = pytest.mark.slow


def cluster_sweep(folder, tmp_path, server, cluster, experiment, *extra):
    return sweep_command(
        folder, tmp_path, server, experiment,
        f"ray.address={cluster.address}", "resources.cpu=1", "search.scheduler.type=none",
        *extra,
    )  # fmt: skip


class TestOnOneCluster:
    """Tests that leave the cluster as they found it share one (``shared_two_node_cluster``):
    the refusals first, then the sweep; the node-loss test below kills a node of its own."""

    def test_a_local_tracking_store_is_refused_on_a_multi_node_cluster(
        self, raw_train, slice_dir, tmp_path, shared_two_node_cluster
    ):
        cluster, _ = shared_two_node_cluster
        folder = slice_dir(raw_train[:200], raw_train[200:240])
        store = f"sqlite:///{tmp_path / 'mlflow.db'}"
        done = run_in_repo(
            cluster_sweep(folder, tmp_path, store, cluster, "local-store"), timeout=300
        )
        assert done.returncode == 2, done.stderr[-3000:]
        line = done.stderr.strip().splitlines()[-1]
        words = ("error:", "tracking.uri", store, "local to this machine", "cannot reach")
        assert all(word in line for word in words)
        assert not trial_folders(tmp_path / "results" / "local-store")

    def test_a_trial_larger_than_any_node_is_refused(
        self, raw_train, slice_dir, tmp_path, shared_two_node_cluster
    ):
        """2 CPUs in all, but a trial (one bundle) must fit on one node of 1 CPU."""
        cluster, _ = shared_two_node_cluster
        folder = slice_dir(raw_train[:200], raw_train[200:240])
        command = cluster_sweep(folder, tmp_path, "", cluster, "too-big", "resources.cpu=2")
        done = run_in_repo(command, timeout=300)
        assert done.returncode == 2, done.stderr[-3000:]
        words = ("resources.cpu", "2 CPU", "largest node", "has 1")
        assert any(all(w in line for w in words) for line in done.stderr.splitlines())

    @pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
    def test_storage_the_nodes_cannot_see_is_refused(
        self, raw_train, slice_dir, tmp_path, mlflow_server, shared_two_node_cluster
    ):
        """The driver runs in its own mount namespace with a private tmpfs over ``storage.path``:
        exactly a driver whose results folder is a local disk the worker machines do not share."""
        cluster, _ = shared_two_node_cluster
        folder = slice_dir(raw_train[:200], raw_train[200:240])
        storage = tmp_path / "results"
        storage.mkdir()
        command = cluster_sweep(folder, tmp_path, mlflow_server, cluster, "private-storage")
        # The driver writes into its own tmpfs; the nodes see the empty folder beneath it.
        private = f'mount -t tmpfs private-results "{storage}" && exec "$0" "$@"'
        done = run_in_repo(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", private, *command],
            timeout=300,
        )
        if "unshare failed" in done.stderr or "mount: " in done.stderr:
            message = f"no private mount namespace here: {done.stderr.strip()[:200]}"
            if os.environ.get("CI") == "true":  # CI machines allow it: the guarantee must be proven
                pytest.fail(message)
            pytest.skip(message)
        assert done.returncode == 2, done.stderr[-3000:]
        node_ids = [
            line.split("node ")[1][:12] for line in done.stderr.splitlines() if "node " in line
        ]
        assert f"storage.path: {storage} is not shared: node " in done.stderr
        assert "does not see the files the driver writes there" in done.stderr
        assert len(set(node_ids)) == 2  # each worker node is named
        assert list(storage.iterdir()) == []  # nothing reached the shared folder

    def test_trials_run_on_both_nodes_and_reach_the_server(
        self, raw_train, slice_dir, tmp_path, mlflow_server, shared_two_node_cluster
    ):
        cluster, nodes = shared_two_node_cluster
        folder = slice_dir(raw_train[:400], raw_train[400:480])
        experiment = f"cluster-{uuid.uuid4().hex[:6]}"
        command = cluster_sweep(
            folder, tmp_path, mlflow_server, cluster, experiment,
            "search.num_samples=4", "search.max_concurrent=2",
            "search.space.num_train_epochs.int=[2, 2]",
        )  # fmt: skip
        done = run_in_repo(command)
        assert done.returncode == 0, done.stderr[-4000:]

        parents, children = sweep_runs(MlflowClient(mlflow_server), experiment)
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
        ran_on = {c.data.tags[NODE_TAG] for c in children}
        assert ran_on == {node.node_id for node in nodes.values()}
        for child in children:
            steps = [m.step for m in MlflowClient(mlflow_server).get_metric_history(
                child.info.run_id, "micro_f1")]  # fmt: skip
            assert steps == [1, 2]


def test_a_node_lost_mid_trial_resumes_on_the_other_node(
    raw_train, slice_dir, tmp_path, mlflow_server, two_node_cluster
):
    cluster, nodes = two_node_cluster
    folder = slice_dir(raw_train[:600], raw_train[600:680])
    experiment = f"node-loss-{uuid.uuid4().hex[:6]}"
    command = cluster_sweep(
        folder, tmp_path, mlflow_server, cluster, experiment,
        "search.num_samples=1", "failure.max_retries=2", "search.space.num_train_epochs.int=[4, 4]",
    )  # fmt: skip
    client = MlflowClient(mlflow_server)
    log = (tmp_path / "sweep.log").open("w")
    sweep = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        lost = wait_for_first_epoch_node(
            client, experiment, sweep, tmp_path / "results" / experiment
        )
        by_id = {node.node_id: name for name, node in nodes.items()}
        cluster.remove_node(nodes[by_id[lost]], allow_graceful=False)  # kill -9 the node
        assert sweep.wait(timeout=900) == 0, (tmp_path / "sweep.log").read_text()[-4000:]
    finally:
        if sweep.poll() is None:
            sweep.kill()
        log.close()

    (child,) = sweep_runs(client, experiment)[1]
    assert child.info.status == "FINISHED"
    assert child.data.tags[NODE_TAG] not in (lost, "")  # the last attempt: the survivor
    steps = [m.step for m in client.get_metric_history(child.info.run_id, "micro_f1")]
    assert sorted(set(steps)) == [1, 2, 3, 4]
    (trial_dir,) = trial_folders(tmp_path / "results" / experiment)
    epochs = [json.loads(line)["epoch"] for line in (trial_dir / "result.json").open()]
    assert epochs[0] == 1 and epochs[-1] == 4  # resumed, not restarted from scratch
    assert epochs.count(1) == 1
    # The driver's summary, not Ray's progress lines (a trial id ending in 1 reads "...1 errored").
    assert "1 finished or stopped early, 0 errored" in (tmp_path / "sweep.log").read_text()


def wait_for_first_epoch_node(client, experiment, sweep, results: Path, timeout=600) -> str:
    """The node of the trial whose first epoch is fully recorded: logged to MLflow and its
    checkpoint persisted, which Tune shows by writing the epoch to the trial's result.json.
    Killing the node between the two would make the retry start from scratch, by design."""

    def recorded_node() -> str | None:
        if not any(path.read_text().strip() for path in results.glob("*/result.json")):
            return None
        if client.get_experiment_by_name(experiment) is None:
            return None
        for child in sweep_runs(client, experiment)[1]:
            if "micro_f1" in child.data.metrics:
                return child.data.tags[NODE_TAG]
        return None

    return wait_until(recorded_node, sweep, timeout, "a recorded first epoch")
