"""Plain helpers the tests share (fixtures live in the conftest files): the repo root, KLUE
slices, a real MLflow server on 127.0.0.1, and the sweep command line the end-to-end tests run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.support import (
    TINY_MODEL,
    wait_until,
)
from trainable.common.tracking.client import (
    CONFIRMATION_STAGE,
    PARENT_TAG,
    STAGE_TAG,
    SWEEP_TAG,
)

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
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    children = [r for r in runs if PARENT_TAG in r.data.tags]
    return parents, children


def wait_for_finished_trials(sweep, client: MlflowClient, experiment: str, count: int) -> None:
    """Wait until ``count`` trial runs finished in MLflow (fails if the sweep ends first)."""

    def finished() -> bool:
        if client.get_experiment_by_name(experiment) is None:
            return False
        return sum(r.info.status == "FINISHED" for r in sweep_runs(client, experiment)[1]) >= count

    wait_until(finished, sweep, what=f"{count} finished trials")


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
    from search import ray_tune  # Ray loads only in the tests that train
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
    from search.ray_tune import TRIAL_FOLDER_PREFIX

    return sorted(experiment_dir.glob(f"{TRIAL_FOLDER_PREFIX}*"))


def run_in_repo(command: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``command`` from the repository root, capturing its text output."""
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- the reviewed sweep
# One small sweep (tests/search/conftest.py: ``swept``) that the report and review tests read.
REVIEWED_EXPERIMENT = "report-test"
# A tiny encoder on 450 examples predicts no relation at all (micro-F1 0 for every trial, a
# tie); AUPRC still ranks the trials, so the reviewed sweep selects on it.
REVIEWED_METRIC = "auprc"
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
    children = client.search_runs([experiment_id(client)], f"tags.`{PARENT_TAG}` != ''")
    return [run for run in children if run.data.tags.get(STAGE_TAG) != CONFIRMATION_STAGE]


def parent_run(client: MlflowClient):
    return client.search_runs([experiment_id(client)], f"tags.`{SWEEP_TAG}` != ''")[0]


def confirmation_runs(client: MlflowClient):
    query = f"tags.`{STAGE_TAG}` = '{CONFIRMATION_STAGE}'"
    return client.search_runs([experiment_id(client)], query)


def report_command(overrides, *extra):
    command = [sys.executable, "-m", "search.report", "--config", "configs/quickstart.yaml"]
    for override in overrides:
        command += ["--set", override]
    return [*command, *extra]
