"""A real trial: scratch encoder on a slice of real KLUE, through Ray Tune in-process, into MLflow.

One injected failure after epoch 1 (``tests.faults``) proves the retry resumes from the reported checkpoint (epoch 1
is never trained or logged twice) and reuses the same MLflow child run. The same trial shows the
per-step training loss, the progress lines and the system metrics, and that every attempt (the
failed one too) stops its system-metrics monitor.
"""

import contextlib
import io
import json
import re
import threading
import time
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from search import ray_tune
from tests.faults import FailAfterEpoch
from tests.helpers import run_trials, run_trials_on_one_actor
from trainable.common.settings import TrialSettings
from trainable.common.tracking.client import TRIAL_ID_TAG
from trainable.data import prepare_data
from trainable.hooks import TrialHook
from trainable.tracking.system_metrics import THREAD_NAME
from trainable.train import train_fn

pytestmark = pytest.mark.slow
TINY = {
    "num_layers": 1,
    "hidden_size": 64,
    "num_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 2000,
}


def tiny_settings(folder: Path, tmp_path: Path, **extra) -> TrialSettings:
    return TrialSettings.model_validate(
        {
            "experiment": {"name": "trial-test", "seed": 3},
            "data": {"dir": str(folder), "cache_dir": str(tmp_path / "cache"), "max_length": 96},
            "model": {"name_or_path": "scratch", "scratch": TINY},
            "train": {"learning_rate": 1e-3, "num_train_epochs": 2, "batch_size": 16},
            **extra,
        }
    )


def train_fn_observed(config, *, settings: TrialSettings, **shared) -> None:
    """``train_fn``, then, in the trial's own process, what it printed and which
    system-metrics threads outlived it, as ``<storage.path>/observed/<attempt>.json``."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            train_fn(config, settings=settings, **shared)
    finally:
        left = [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME)]
        observed = settings.storage.path / "observed" / f"{uuid.uuid4().hex}.json"
        observed.parent.mkdir(parents=True, exist_ok=True)
        observed.write_text(json.dumps({"printed": printed.getvalue(), "threads_left": left}))
        print(printed.getvalue())


class LingerAfterEpoch(TrialHook):
    """Each epoch lasts a few seconds more: on an idle box a tiny epoch takes under a second,
    less than the system monitor's 1 s between samples, which then logged nothing."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict) -> None:
        time.sleep(self.seconds)


def test_trial_reports_resumes_from_its_checkpoint_and_tracks_one_child_run(
    raw_train, slice_dir, tmp_path
):
    folder = slice_dir(raw_train[:600], raw_train[600:760])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment_id = client.create_experiment("trial-test")
    parent = client.create_run(experiment_id, run_name="sweep").info.run_id
    log_every = 10
    settings = tiny_settings(
        folder, tmp_path,
        train={"learning_rate": 1e-3, "num_train_epochs": 2, "batch_size": 16,
               "log_every_steps": log_every},
        tracking={"uri": store, "parent_run_id": parent, "system_metrics_interval_s": 1},
        storage={"path": str(tmp_path / "storage")},
    )  # fmt: skip
    data = prepare_data(settings)
    results = run_trials(
        train_fn_observed, {"criterion": "focal", "gamma": 1.0, "learning_rate": 2e-3}, settings,
        data, "trial-test", tmp_path / "results", max_failures=1,
        hooks=[LingerAfterEpoch(2.5), FailAfterEpoch(1)],
    )  # fmt: skip
    result = results[0]
    assert result.error is None

    frame = result.metrics_dataframe
    assert frame["epoch"].tolist() == [1, 2]  # epoch 1 was not re-run after the failure
    for name in ("micro_f1", "auprc", "accuracy", "ce_loss"):
        assert frame[name].notna().all() and frame[f"dev_{name}"].notna().all()

    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 1
    child = children[0]
    assert child.info.status == "FINISHED"
    assert child.data.tags[TRIAL_ID_TAG] == result.metrics["trial_id"]
    assert child.data.params["criterion"] == "focal" and float(child.data.params["gamma"]) == 1.0
    assert float(child.data.params["learning_rate"]) == 2e-3
    history = client.get_metric_history(child.info.run_id, "dev_micro_f1")
    assert sorted(m.step for m in history) == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "per_class_f1")}
    assert artifacts == {"per_class_f1/epoch_001.csv", "per_class_f1/epoch_002.csv"}

    # Every log_every optimizer steps and at each epoch's end: the loss since the previous log
    # and the learning rate, at the global step; the epoch's train_loss is their step-weighted
    # mean, i.e. the mean over all its steps. The retry did not log epoch 1's steps again.
    per_epoch = -(-len(data.splits["train"]) // 16)  # batch 16, no accumulation
    logged = [g for g in range(1, 2 * per_epoch + 1) if g % log_every == 0 or g % per_epoch == 0]
    losses = client.get_metric_history(child.info.run_id, "train_loss_step")
    assert [m.step for m in losses] == logged
    lrs = client.get_metric_history(child.info.run_id, "lr_step")
    assert [m.step for m in lrs] == logged and all(m.value > 0 for m in lrs)
    for epoch_loss in client.get_metric_history(child.info.run_id, "train_loss"):
        first, last = (epoch_loss.step - 1) * per_epoch, epoch_loss.step * per_epoch
        weighted, previous = 0.0, first
        for point in (m for m in losses if first < m.step <= last):
            weighted += point.value * (point.step - previous)
            previous = point.step
        assert epoch_loss.value == pytest.approx(weighted / per_epoch, rel=1e-9)

    # The same log events print a progress line (both attempts' output, in the trial's process).
    attempts = [json.loads(p.read_text()) for p in (tmp_path / "storage" / "observed").iterdir()]
    assert len(attempts) == 2
    printed = "".join(attempt["printed"] for attempt in attempts)
    progress = re.findall(
        r"^epoch (\d) step (\d+)/(\d+) \(\d+%\) \| loss \d+\.\d\d \| (\d+) examples/s \| "
        r"epoch ETA (?:\d+m)?\d+s$",
        printed, flags=re.MULTILINE,
    )  # fmt: skip
    assert sorted((int(e), int(s)) for e, s, _, _ in progress) == [
        ((g - 1) // per_epoch + 1, (g - 1) % per_epoch + 1) for g in logged
    ]
    assert {int(total) for _, _, total, _ in progress} == {per_epoch}
    assert all(int(rate) > 0 for _, _, _, rate in progress)

    # MLflow's system monitor sampled onto this run, and no attempt (the failed one neither)
    # left its thread behind.
    system = {key for key in child.data.metrics if key.startswith("system/")}
    assert {
        "system/cpu_utilization_percentage",
        "system/system_memory_usage_megabytes",
    } <= system
    assert [attempt["threads_left"] for attempt in attempts] == [[], []]


# The rung test's trials: (num_train_epochs, schedule_epochs); None: the trial's own count.
SCHEDULES = {"1 of 3": (1, 3), "3 of 3": (3, 3), "1 of 1": (1, None)}


def train_fn_scheduled(config, **shared) -> None:
    """``train_fn`` on one of ``SCHEDULES`` (warmup 0.2: the first epoch's rate is past it)."""
    epochs, schedule = SCHEDULES[config["schedule"]]
    sampled = {"num_train_epochs": epochs, "schedule_epochs": schedule, "warmup_ratio": 0.2}
    train_fn(sampled, **shared)


def test_trials_differing_only_in_epochs_meet_a_rung_at_the_same_schedule_point(
    raw_train, slice_dir, tmp_path
):
    """The sweep gives every trial a schedule spanning its largest epoch count, so a 1-epoch and
    a 3-epoch trial are at the same learning rate, with the same scores, after epoch 1."""
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    settings = tiny_settings(folder, tmp_path)
    data = prepare_data(settings)
    # The three trials share one process (each trial seeds itself): one process start, not three.
    results = run_trials_on_one_actor(
        train_fn_scheduled, {"schedule": ray_tune.grid(list(SCHEDULES))}, settings, data,
        "schedule", tmp_path / "results",
    )  # fmt: skip
    assert results.num_errors == 0 and results.num_terminated == len(SCHEDULES)
    first_epoch = {}
    for result in results:
        epochs = SCHEDULES[result.config["schedule"]][0]
        frame = result.metrics_dataframe
        assert frame["epoch"].tolist() == list(range(1, epochs + 1))  # stops at its own count
        first_epoch[result.config["schedule"]] = frame.iloc[0].to_dict()

    short, long = first_epoch["1 of 3"], first_epoch["3 of 3"]
    assert short["lr"] == pytest.approx(long["lr"]) and short["lr"] > 0
    assert short["micro_f1"] == long["micro_f1"] and short["ce_loss"] == long["ce_loss"]
    own_schedule = first_epoch["1 of 1"]  # what the sweep did before: already annealed
    assert own_schedule["lr"] < 0.1 * short["lr"]
