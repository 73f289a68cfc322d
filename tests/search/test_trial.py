"""``python -m search.trial``: one training from a sweep config, on real KLUE slices."""

import subprocess
import sys

import pytest

from tests.helpers import REPO


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
    # A green run prints no ERROR and no traceback (Ray once failed a state save while the
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
