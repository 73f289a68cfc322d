"""Checks that refuse a sweep before any trial starts, each with a one-line reason.

A sweep that cannot keep its results, asks for more than the cluster has, or whose trials on other
nodes could not reach the storage or the MLflow server would otherwise fail late (an hour in, on
the first checkpoint of a trial placed on another machine) or pend forever. Each check raises
``ConfigError`` naming the config key at fault.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlparse

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from search.config import SweepConfig
from trainable.common.tracking import TrackingError, probe_server
from trainable.common.yaml_config import ConfigError

NODE_ANSWER_TIMEOUT_S = 120  # a node busy starting a worker process still answers well within this
SERVER_SCHEMES = ("http", "https", "databricks")  # tracking URIs other machines can reach


def check_writable(folder: Path) -> None:
    """``storage.path`` must take files: every result and checkpoint goes there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ConfigError(
            "storage.path",
            [f"{folder} is not writable ({error.strerror}): results could not be kept"],
        ) from None


def check_tracking(config: SweepConfig) -> None:
    """An MLflow server that does not answer fails in seconds (``TrackingError``), before the
    data, Ray or any trial."""
    if config.tracking.uri:
        probe_server(config.tracking.uri)


def check_cluster(config: SweepConfig) -> None:
    """Once Ray is up: per-trial resources some node can meet, storage and tracking every
    node can reach."""
    check_resources(config)
    check_cluster_reach(config)


def check_resources(config: SweepConfig) -> None:
    """Refuse a per-trial request no node can meet, instead of pending forever. A trial is one
    bundle, placed on one node: two 1-GPU nodes cannot run a 2-GPU trial."""
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    problems = []
    for name, key, wanted in (
        ("cpu", "CPU", config.resources.cpu),
        ("gpu", "GPU", config.resources.gpu),
    ):
        most = max((resources.get(key, 0) for resources in nodes), default=0)
        if wanted > most:
            problems.append(
                f"resources.{name}: a trial asks for {wanted:g} {key} but the largest node of "
                f"the Ray cluster has {most:g}"
            )
    if problems:
        raise ConfigError("ray cluster", problems)


def check_cluster_reach(config: SweepConfig) -> None:
    """On a multi-node cluster, every node that can run a trial must see ``storage.path`` (a
    file the driver just wrote there) and reach the MLflow server. A local SQLite or file store
    is refused outright: each node would silently track into its own copy."""
    alive = [node for node in ray.nodes() if node["Alive"]]
    nodes = trial_nodes()
    if len(alive) < 2 or not nodes:
        return
    uri = config.tracking.uri
    if uri and urlparse(uri).scheme not in SERVER_SCHEMES:
        raise ConfigError(
            "tracking.uri",
            [
                f"{uri} is local to this machine; trials on the other nodes of this "
                f"{len(alive)}-node cluster cannot reach it: use an MLflow server "
                "(http://..., see docker/docker-compose.yml)"
            ],
        )
    marker = config.storage.path / f".shared-check-{uuid.uuid4().hex}"
    marker.write_text(marker.name, encoding="utf-8")
    try:
        answers = [
            _node_problems.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(str(marker), uri)
            for node in nodes
        ]
        ready, _ = ray.wait(answers, num_returns=len(answers), timeout=NODE_ANSWER_TIMEOUT_S)
        problems = [line for answer in ready for line in ray.get(answer)]
        problems += [
            f"ray: node {_describe(node)} did not answer within {NODE_ANSWER_TIMEOUT_S} s"
            for node, answer in zip(nodes, answers, strict=True)
            if answer not in ready
        ]
    finally:
        marker.unlink(missing_ok=True)
    if problems:
        raise ConfigError("ray cluster", problems)


def trial_nodes() -> list[dict]:
    """Alive nodes with CPUs or GPUs to give, i.e. where Tune may place a trial."""
    return [
        node
        for node in ray.nodes()
        if node["Alive"] and (node["Resources"].get("CPU", 0) or node["Resources"].get("GPU", 0))
    ]


@ray.remote(num_cpus=0, max_retries=0)
def _node_problems(marker: str, tracking_uri: str | None) -> list[str]:
    """Runs on one node: what a trial placed there would fail on."""
    where = f"node {ray.get_runtime_context().get_node_id()[:12]}"
    problems = []
    path = Path(marker)
    try:
        seen = path.read_text(encoding="utf-8") == path.name
    except OSError:
        seen = False
    if not seen:
        problems.append(
            f"storage.path: {path.parent} is not shared: {where} does not see the files the "
            "driver writes there; use a folder every node mounts (e.g. NFS)"
        )
    if tracking_uri and urlparse(tracking_uri).scheme in SERVER_SCHEMES:
        try:
            probe_server(tracking_uri)
        except TrackingError as error:
            problems.append(f"{error} from {where}")
    return problems


def _describe(node: dict) -> str:
    return f"{node['NodeID'][:12]} ({node['NodeManagerAddress']})"
