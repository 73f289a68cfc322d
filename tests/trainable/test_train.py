"""A real trial: scratch encoder on a slice of real KLUE, through Ray Tune in-process, into MLflow.

One injected failure after epoch 1 (``tests.faults``) proves the retry resumes from the reported checkpoint (epoch 1
is never trained or logged twice) and reuses the same MLflow child run.
"""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.faults import FailAfterEpoch
from tests.helpers import run_one_trial
from trainable.common.settings import TrialSettings
from trainable.data import prepare_data
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


def test_trial_reports_resumes_from_its_checkpoint_and_tracks_one_child_run(
    raw_train, slice_dir, tmp_path
):
    folder = slice_dir(raw_train[:600], raw_train[600:760])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment_id = client.create_experiment("trial-test")
    parent = client.create_run(experiment_id, run_name="sweep").info.run_id
    settings = tiny_settings(
        folder, tmp_path,
        tracking={"uri": store, "parent_run_id": parent},
    )  # fmt: skip
    data = prepare_data(settings)
    results = run_one_trial(
        train_fn, {"criterion": "focal", "gamma": 1.0, "learning_rate": 2e-3}, settings, data,
        "trial-test", tmp_path / "results", max_failures=1, hooks=[FailAfterEpoch(1)],
    )  # fmt: skip
    result = results[0]
    assert result.error is None

    frame = result.metrics_dataframe
    assert frame["epoch"].tolist() == [1, 2]  # epoch 1 was not re-run after the failure
    for name in ("micro_f1", "auprc", "accuracy", "ce_loss"):
        assert frame[name].notna().all() and frame[f"dev_{name}"].notna().all()
    state = json.loads((Path(result.checkpoint.path) / "trainer_state.json").read_text())
    assert state["epoch"] == 2.0
    assert (Path(result.checkpoint.path) / "model.safetensors").is_file()

    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 1
    child = children[0]
    assert child.info.status == "FINISHED"
    assert child.data.tags["ray.trial_id"] == result.metrics["trial_id"]
    assert child.data.params["criterion"] == "focal" and float(child.data.params["gamma"]) == 1.0
    assert float(child.data.params["learning_rate"]) == 2e-3
    history = client.get_metric_history(child.info.run_id, "dev_micro_f1")
    assert sorted(m.step for m in history) == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "per_class_f1")}
    assert artifacts == {"per_class_f1/epoch_001.csv", "per_class_f1/epoch_002.csv"}


def test_trials_differing_only_in_epochs_meet_a_rung_at_the_same_schedule_point(
    raw_train, slice_dir, tmp_path
):
    """The sweep gives every trial a schedule spanning its largest epoch count, so a 1-epoch and
    a 3-epoch trial are at the same learning rate, with the same scores, after epoch 1."""
    folder = slice_dir(raw_train[:400], raw_train[400:500])

    def epoch_one(epochs: int, schedule: int | None) -> dict:
        settings = tiny_settings(folder, tmp_path)
        settings.train.schedule_epochs = schedule
        results = run_one_trial(
            train_fn, {"num_train_epochs": epochs, "warmup_ratio": 0.2}, settings,
            prepare_data(settings), f"schedule-{epochs}-{schedule}", tmp_path / "results",
        )  # fmt: skip
        frame = results[0].metrics_dataframe
        assert frame["epoch"].tolist() == list(range(1, epochs + 1))  # stops at its own count
        return frame.iloc[0].to_dict()

    short, long = epoch_one(1, schedule=3), epoch_one(3, schedule=3)
    assert short["lr"] == pytest.approx(long["lr"]) and short["lr"] > 0
    assert short["micro_f1"] == long["micro_f1"] and short["ce_loss"] == long["ce_loss"]
    own_schedule = epoch_one(1, schedule=None)  # what the sweep did before: already annealed
    assert own_schedule["lr"] < 0.1 * short["lr"]
