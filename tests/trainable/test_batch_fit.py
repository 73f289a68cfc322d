"""Out of GPU memory, injected for real (``tests.faults.OutOfMemoryAbove`` raises CUDA's own
``OutOfMemoryError`` from inside HF's training step): the trial halves its per-device batch,
doubles accumulation and goes on from its last epoch; at batch 1 it fails once, for good.
"""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.faults import OutOfMemoryAbove
from tests.helpers import run_trials
from tests.trainable.test_train import tiny_settings
from trainable import permanent
from trainable.batch_fit import ACCUMULATION_TAG, BATCH_TAG, BatchFit, BatchTooLargeError
from trainable.data import prepare_data
from trainable.train import train_fn


def test_halving_keeps_the_effective_batch_down_to_one():
    fits, fit = [], BatchFit(32, 1, 128)
    while fit is not None:
        fits.append(fit)
        fit = fit.halved()
    assert [(f.batch_size, f.accumulation) for f in fits] == [
        (32, 1), (16, 2), (8, 4), (4, 8), (2, 16), (1, 32),
    ]  # fmt: skip
    assert {f.effective for f in fits} == {32}
    assert [f.eval_batch_size for f in fits] == [128, 64, 32, 16, 8, 4]
    odd = BatchFit(24, 2, 8)  # an odd factor: the largest divisor at most half, still exact
    assert [(f.batch_size, f.accumulation) for f in (odd.halved(), BatchFit(3, 16, 1).halved())] == [
        (12, 4), (1, 48),
    ]  # fmt: skip


def test_a_recorded_permanent_failure_is_raised_again_with_its_type_and_message(tmp_path):
    permanent.raise_if_recorded(tmp_path)  # nothing recorded: nothing raised
    permanent.record(BatchTooLargeError("no batch fits"), tmp_path)
    with pytest.raises(BatchTooLargeError, match=r"^no batch fits$"):
        permanent.raise_if_recorded(tmp_path)


def train_fn_counted(config, *, settings, **shared) -> None:
    """``train_fn``, leaving one file per Tune attempt in ``<storage.path>/attempts``."""
    attempts = settings.storage.path / "attempts"
    attempts.mkdir(parents=True, exist_ok=True)
    (attempts / str(len(list(attempts.iterdir())))).touch()
    train_fn(config, settings=settings, **shared)


def ooms(folder: Path) -> list[int]:
    return sorted((int(p.name.split("-")[1]) for p in folder.glob("oom-*")), reverse=True)


@pytest.fixture
def tracked(raw_train, slice_dir, tmp_path):
    """Tiny-trial settings at batch 32 on a real KLUE slice, tracked in a SQLite MLflow store."""
    folder = slice_dir(raw_train[:300], raw_train[300:380])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = tiny_settings(
        folder, tmp_path,
        train={"learning_rate": 1e-3, "num_train_epochs": 2, "batch_size": 32},
        tracking={"uri": store, "experiment": "oom", "system_metrics_interval_s": 0},
        storage={"path": str(tmp_path / "storage")},
    )  # fmt: skip
    (tmp_path / "oom").mkdir()
    return settings, MlflowClient(store), tmp_path


@pytest.mark.slow
def test_out_of_memory_mid_trial_halves_the_batch_and_goes_on_from_the_last_epoch(tracked):
    settings, client, tmp_path = tracked
    hook = OutOfMemoryAbove(fits=16, count_dir=str(tmp_path / "oom"), from_epoch=1)
    results = run_trials(
        train_fn_counted, {"criterion": "ce"}, settings, prepare_data(settings), "oom",
        tmp_path / "results", max_failures=1, hooks=[hook],
    )  # fmt: skip
    result = results[0]
    assert result.error is None
    assert ooms(tmp_path / "oom") == [32]  # epoch 2's first batch at 32, then none at 16
    assert len(list((settings.storage.path / "attempts").iterdir())) == 1  # no Tune retry
    frame = result.metrics_dataframe
    assert frame["epoch"].tolist() == [1, 2]  # epoch 1 neither trained nor reported twice
    assert frame["micro_f1"].notna().all() and frame["dev_micro_f1"].notna().all()

    (run,) = client.search_runs([client.get_experiment_by_name("oom").experiment_id])
    # Epoch 2 trained at 16 x 2: the same optimizer steps per epoch as epoch 1 at 32 x 1 (the
    # last training-loss point is logged at the global step of epoch 2's end).
    train_examples = len(prepare_data(settings).splits["train"])
    steps = client.get_metric_history(run.info.run_id, "train_loss_step")
    assert max(m.step for m in steps) == 2 * -(-train_examples // 32)
    assert run.info.status == "FINISHED"
    assert run.data.tags[BATCH_TAG] == "16" and run.data.tags[ACCUMULATION_TAG] == "2"
    assert run.data.params["batch_size"] == "32"  # what was configured stays a param
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "micro_f1")) == [1, 2]


@pytest.mark.slow
def test_out_of_memory_at_batch_one_fails_once_and_tune_does_not_train_it_again(tracked):
    settings, client, tmp_path = tracked
    hook = OutOfMemoryAbove(fits=0, count_dir=str(tmp_path / "oom"))
    results = run_trials(
        train_fn_counted, {"criterion": "ce"}, settings, prepare_data(settings), "oom",
        tmp_path / "results", max_failures=1, hooks=[hook],
    )  # fmt: skip
    error = str(results[0].error)
    assert "BatchTooLargeError: out of GPU memory even at per-device batch 1" in error
    assert ooms(tmp_path / "oom") == [32, 16, 8, 4, 2, 1]  # one search, in the first attempt
    # Tune 2.60 retries every error; its retry ended at once with the same error (one retry shows
    # it as well as more: each starts a new trial process, tens of seconds on 2 cores).
    assert len(list((settings.storage.path / "attempts").iterdir())) == 2

    (run,) = client.search_runs([client.get_experiment_by_name("oom").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("BatchTooLargeError: out of GPU memory even at")
    assert run.data.tags[BATCH_TAG] == "1" and run.data.tags[ACCUMULATION_TAG] == "32"
    assert not [key for key in run.data.metrics if not key.startswith("system/")]
