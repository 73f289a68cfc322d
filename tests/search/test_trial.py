"""``python -m search.trial``: one training from a sweep config, on real KLUE slices."""

import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from search.config import load_sweep_config
from search.run import main as run_main
from search.sweep_state import LAYOUT
from search.tracking import find_sweep_run
from tests.helpers import QUICKSTART, REPO, run_in_repo, sweep_command, sweep_runs
from trainable.common.tracking.client import SWEEP_TAG


@pytest.mark.slow
def test_standalone_entry_prints_the_metrics_table(raw_train, slice_dir, tmp_path):
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    overrides = {
        "data.dir": folder, "data.cache_dir": tmp_path / "cache", "data.train_subsample": "null",
        "data.dev_subsample": "null", "model.scratch.vocab_size": 2000,
        "model.scratch.hidden_size": 64, "train.num_train_epochs": 1,
        "tracking.uri": "null", "storage.path": tmp_path / "results",
    }  # fmt: skip
    command = [sys.executable, "-m", "search.trial", "--config", "configs/quickstart.yaml"]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dev_micro_f1" in done.stdout
    # A green run prints no ERROR and no traceback (Ray failed a state save while the
    # Trainer deleted a checkpoint folder it was uploading), and keeps no checkpoint.
    assert "ERROR" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert not list((tmp_path / "results").rglob("checkpoint_*"))


def test_standalone_entry_rejects_a_bad_config_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "search.trial", "--config", "configs/quickstart.yaml",
         "--set", "train.learning_rat=1"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error:")
    assert all(word in line for word in ("train.learning_rat", "unknown key", "learning_rate"))


@pytest.mark.slow
def test_a_single_training_and_a_sweep_of_one_name_keep_apart(raw_train, slice_dir, tmp_path):
    """``make train`` then the sweep command: the training has its own folder, so the sweep
    starts as if it were alone, and in MLflow the training is no sweep the report could pick."""
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = sweep_command(
        folder, tmp_path, store, "apart", "search.num_samples=1", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[1, 1]",
    )  # fmt: skip
    training = [*sweep[:2], "search.trial", *sweep[3:], "--set", "train.num_train_epochs=1"]
    done = run_in_repo(training)
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results"
    assert not (results / "apart").exists()
    (kept,) = (results / "trials").iterdir()
    assert kept.name.startswith("apart-") and str(kept) in done.stdout  # its checkpoint

    done = run_in_repo(sweep)
    assert done.returncode == 0, done.stderr[-3000:]
    parents, _ = sweep_runs(MlflowClient(store), "apart")
    sweeps = [run.info.run_id for run in parents if SWEEP_TAG in run.data.tags]
    assert len(parents) == 2 and len(sweeps) == 1  # the training's run, the sweep's parent
    assert find_sweep_run(store, "apart") == sweeps[0]


def untracked(tmp_path, name: str) -> list[str]:
    """Overrides: the quickstart config into ``tmp_path/results``, untracked."""
    return [f"storage.path={tmp_path / 'results'}", f"experiment.name={name}", "tracking.uri=null"]


def sweep_main(tmp_path, name: str, *flags: str) -> int:
    overrides = [arg for override in untracked(tmp_path, name) for arg in ("--set", override)]
    return run_main(["--config", str(QUICKSTART), *overrides, *flags])


@pytest.mark.parametrize("flags", [[], ["--resume"]], ids=["new", "resume"])
def test_a_folder_holding_a_single_training_is_no_sweep(tmp_path, capsys, flags):
    """A training of the former layout (``<storage>/<name>``: Tune's state, no sweep.json)."""
    old = tmp_path / "results" / "klue-re-quickstart"
    old.mkdir(parents=True)
    (old / "tuner.pkl").write_bytes(b"")
    assert sweep_main(tmp_path, "klue-re-quickstart", *flags) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error:") and str(old) in line and "single training" in line
    assert "add --resume" not in line


def test_the_trainings_folder_is_no_sweep_name(tmp_path, capsys):
    assert sweep_main(tmp_path, "trials") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "experiment.name" in line and "'trials'" in line and "search.trial" in line


def stopped_sweep(tmp_path, name: str, **state) -> None:
    """A sweep's folder as a stopped sweep leaves it: Tune's state and ``sweep.json``."""
    folder = tmp_path / "results" / name
    folder.mkdir(parents=True)
    (folder / "tuner.pkl").write_bytes(b"")
    (folder / "sweep.json").write_text(json.dumps({"layout": LAYOUT, **state}), encoding="utf-8")


def test_resume_with_a_changed_config_names_the_changed_keys(tmp_path, capsys):
    config = load_sweep_config(QUICKSTART, untracked(tmp_path, "changed"))
    stopped_sweep(
        tmp_path, "changed", resume_hash=config.resume_hash(), num_samples=8,
        resume_fields=config.resume_fields(),
    )  # fmt: skip
    flags = ["--set", "search.seed=1", "--set", "train.learning_rate=0.002", "--resume"]
    assert sweep_main(tmp_path, "changed", *flags) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "the config changed since the sweep started" in line
    assert "search.seed" in line and "train.learning_rate" in line and "tracking" not in line


def test_resume_of_a_sweep_saved_under_another_code_layout_is_refused_in_one_line(tmp_path, capsys):
    """Tune's state names our modules by path: once they moved, restoring it would fail deep
    in Ray with a ModuleNotFoundError."""
    config = load_sweep_config(QUICKSTART, untracked(tmp_path, "moved"))
    stopped_sweep(tmp_path, "moved", layout=LAYOUT - 1, resume_hash=config.resume_hash())
    assert sweep_main(tmp_path, "moved", "--resume") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "started by an older version of this service and cannot be resumed" in line


def test_resume_of_a_sweep_that_saved_no_config_says_only_that_it_changed(tmp_path, capsys):
    stopped_sweep(tmp_path, "older", resume_hash="0" * 12, num_samples=8)
    assert sweep_main(tmp_path, "older", "--resume") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "the config changed since the sweep started; resume with the same config" in line
