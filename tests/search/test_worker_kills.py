"""A trial's worker SIGKILLed at the moments the chaos bench found, on real Ray and MLflow: as
Tune hands its reused process to the next trial, and after it reported its last epoch."""

import json
import tempfile
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.helpers import run_in_repo, sweep_command, sweep_runs
from trainable.common.tracking import TRIAL_ID_TAG


@pytest.fixture
def small(raw_train, slice_dir, tmp_path):
    return slice_dir(raw_train[:300], raw_train[300:380]), tmp_path


def _study(tmp_path, name: str) -> optuna.Study:
    storage = f"sqlite:///{tmp_path / 'results' / name / 'optuna.db'}"
    return optuna.load_study(study_name=name, storage=storage)


@pytest.mark.slow
def test_a_worker_killed_as_it_is_handed_to_the_next_trial_costs_that_trial_one_retry(small):
    """The first trial's process, reused for the second, dies in Tune's reset: Ray 2.60 counted
    that twice and errored the second trial after 0 epochs with a retry left. Now it is retried
    in a new process and finishes; every trial is one FINISHED MLflow run, COMPLETE in Optuna."""
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mark = tmp_path / "killed-on-reuse"
    command = sweep_command(
        folder, tmp_path, store, "reuse",
        "search.num_samples=2", "search.warm_start=[]", "search.max_concurrent=1",
        "search.scheduler.type=none", "search.space.num_train_epochs.int=[1, 1]",
        "failure.max_retries=1",
        faults=json.dumps({"kill_on_reuse": {"epoch": 1, "mark": str(mark)}}),
    )  # fmt: skip
    done = run_in_repo(command, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert mark.exists(), "no trial process was handed to another trial"
    assert "2 finished or stopped early, 0 errored" in done.stdout, done.stdout[-3000:]
    _, children = sweep_runs(MlflowClient(store), "reuse")
    assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
    states = [trial.state for trial in _study(tmp_path, "reuse").trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE]


@pytest.mark.slow
def test_a_worker_killed_after_its_last_epoch_trains_no_further_epoch(small):
    """A 2-epoch trial's worker dies after reporting epoch 2, before its function returned:
    Tune retries it from the epoch-2 checkpoint, where the schedule still had an epoch 3 to
    train: it was trained, logged and reported.
    Now the retry trains nothing and ends the run; each of epochs 1-2 is logged once, and the
    killed attempt's HF checkpoint folder is gone with the trial."""
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "last",
        # 2 epochs on a schedule of 3 (the space's longest), as a sweep's shorter trials train
        "search.num_samples=1", "search.warm_start=[{criterion: ce, num_train_epochs: 2}]",
        "search.space.num_train_epochs.int=[2, 3]", "search.scheduler.type=none",
        "failure.max_retries=1", faults=json.dumps({"kill_after_epoch": {"epoch": 2}}),
    )  # fmt: skip
    done = run_in_repo(command, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Trial task failed" in done.stdout + done.stderr, "the worker was not killed"
    assert "1 finished or stopped early, 0 errored" in done.stdout
    (child,) = sweep_runs(MlflowClient(store), "last")[1]
    assert child.info.status == "FINISHED"
    for metric in ("epoch", "auprc", "micro_f1"):
        history = MlflowClient(store).get_metric_history(child.info.run_id, metric)
        assert sorted(m.step for m in history) == [1, 2], metric
    (trial,) = _study(tmp_path, "last").trials
    assert trial.state == TrialState.COMPLETE and sorted(trial.intermediate_values) == [1, 2]
    left = Path(tempfile.gettempdir()).glob(f"hf-{child.data.tags[TRIAL_ID_TAG]}-*")
    assert not list(left), "the killed attempt's HF checkpoint folder outlived the trial"
