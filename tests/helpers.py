"""Plain helpers the tests share (fixtures live in the conftest files): the repo root, KLUE
slices, a real MLflow server on 127.0.0.1, and the sweep command line the end-to-end tests run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
TRAIN, DEV, RELATIONS = "klue-re-v1.1_train.json", "klue-re-v1.1_dev.json", "relation_list.json"


def write_klue_slice(
    folder: Path, klue_dir: Path, train: list[dict], dev: list[dict] | None = None
) -> Path:
    """A KLUE-format folder holding the given train/dev records (dev: train's first 50)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RELATIONS).write_bytes((klue_dir / RELATIONS).read_bytes())
    for name, records in ((TRAIN, train), (DEV, dev if dev is not None else train[:50])):
        (folder / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_mlflow_server(folder: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``mlflow server`` on 127.0.0.1 keeping its store in ``folder`` (a restart on the
    same folder and port serves the same runs); return it and its URI once it answers."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    with (folder / "server.log").open("a") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return server, uri
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_mlflow_server(server)
                raise RuntimeError((folder / "server.log").read_text()[-3000:]) from None
            time.sleep(0.5)


def stop_mlflow_server(server: subprocess.Popen) -> None:
    """Stop the server and its web-server workers (its own process group)."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_until_answers(url: str, process: subprocess.Popen, log: Path, timeout: float = 120):
    """Poll ``url`` until it answers HTTP 200; fail with the end of ``log`` if ``process``
    exits first or nothing answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


TINY_MODEL = [
    "model.scratch.num_layers=1", "model.scratch.hidden_size=64", "model.scratch.num_heads=2",
    "model.scratch.intermediate_size=128", "model.scratch.vocab_size=2000",
]  # fmt: skip


def sweep_command(
    folder: Path, tmp_path: Path, server: str, experiment: str, *extra: str, faults: str = ""
):
    """``python -m search.run`` on a KLUE slice with a tiny model; ``faults`` (JSON, see
    ``tests.faults``) runs it with those faults injected into the trials."""
    overrides = [
        f"data.dir={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.train_subsample=null",
        "data.dev_subsample=null", "data.max_length=96", *TINY_MODEL, "train.batch_size=16",
        f"storage.path={tmp_path / 'results'}", f"tracking.uri={server}",
        f"tracking.experiment={experiment}", f"experiment.name={experiment}", *extra,
    ]  # fmt: skip
    entry = ["tests.faults", faults] if faults else ["search.run"]
    command = [sys.executable, "-m", *entry, "--config", str(QUICKSTART)]
    for override in overrides:
        command += ["--set", override]
    return command


def sweep_runs(client: MlflowClient, experiment: str):
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def wait_for_finished_trials(sweep, client: MlflowClient, experiment: str, count: int) -> None:
    """Poll MLflow until ``count`` trial runs finished (or the sweep process ended)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and sweep.poll() is None:
        if client.get_experiment_by_name(experiment) and (
            sum(r.info.status == "FINISHED" for r in sweep_runs(client, experiment)[1]) >= count
        ):
            return
        time.sleep(1)


def run_one_trial(
    trainable, sampled: dict, settings, data, name: str, storage_path: Path, **options
):
    """``trainable`` as one Tune trial on a local loopback Ray, built as every run of ours is
    (``ray_tune.build_tuner``); ``options``: ``hooks`` for the trial, ``max_failures``."""
    return run_trials(trainable, sampled, settings, data, name, storage_path, **options)


def run_trials_on_one_actor(
    trainable, param_space: dict, settings, data, name: str, storage_path: Path
):
    """One trial per grid value of ``param_space``, one after another in one reused process, as
    a sweep's trials run: one trial process to start, not one per trial."""
    return run_trials(
        trainable, param_space, settings, data, name, storage_path,
        max_concurrent=1, reuse_actors=True,  # all CPUs per trial: one actor fits at a time
    )  # fmt: skip


def run_trials(
    trainable, param_space: dict, settings, data, name: str, storage_path: Path, **options
):
    """``trainable`` over ``param_space``, each trial given every CPU; ``options`` go to
    ``ray_tune.build_tuner``, ``hooks`` to the trials."""
    from trainable.common import ray_tune  # Ray loads only in the tests that train
    from trainable.train import METRIC

    cpus = os.cpu_count() or 1
    ray_tune.start_ray(num_cpus=cpus)
    shared = {"settings": settings, "data": data, "hooks": list(options.pop("hooks", ()))}
    tuner = ray_tune.build_tuner(
        trainable, shared, {"cpu": cpus}, name=name, storage_path=storage_path, metric=METRIC,
        param_space=param_space, **options,
    )  # fmt: skip
    return tuner.fit()


def trial_folders(experiment_dir: Path) -> list[Path]:
    """The sweep's trial folders, sorted (named by ``ray_tune.trial_folder_name``)."""
    from trainable.common.ray_tune import TRIAL_FOLDER_PREFIX

    return sorted(experiment_dir.glob(f"{TRIAL_FOLDER_PREFIX}*"))


def run_in_repo(command: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``command`` from the repository root, capturing its text output."""
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- the reviewed sweep
# One small sweep (tests/search/conftest.py: ``swept``) that the report and review tests read.
REVIEWED_EXPERIMENT = "report-test"
# A tiny encoder on 450 examples predicts no relation at all (micro-F1 0 for every trial, a
# tie); AUPRC still ranks the trials, so these tests select on it.
METRIC = "auprc"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Skipped on a dev box without Chromium; on CI (.ci/run installs it) its absence fails.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (.ci/run installs it; in CI its absence fails this test)",
)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=5000",
]  # fmt: skip


def experiment_id(client: MlflowClient) -> str:
    return client.get_experiment_by_name(REVIEWED_EXPERIMENT).experiment_id


def trial_runs(client: MlflowClient):
    children = client.search_runs([experiment_id(client)], "tags.`mlflow.parentRunId` != ''")
    return [run for run in children if run.data.tags.get("stage") != "confirmation"]


def parent_run(client: MlflowClient):
    return client.search_runs([experiment_id(client)], "tags.`sweep.name` != ''")[0]


def confirmation_runs(client: MlflowClient):
    return client.search_runs([experiment_id(client)], "tags.`stage` = 'confirmation'")


def report_command(overrides, *extra):
    command = [sys.executable, "-m", "search.report", "--config", "configs/quickstart.yaml"]
    for override in overrides:
        command += ["--set", override]
    return [*command, *extra]
