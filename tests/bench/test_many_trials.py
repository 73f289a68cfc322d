"""The many-trials bench end to end, small: a real sweep of 12 short trials through
``python -m search.run`` against the ``mlflow server`` the bench starts on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow
TRIALS, EARLY = 12, 4


def test_every_trial_is_one_finished_run_and_ended_trials_keep_one_checkpoint(tmp_path, klue_dir):
    figures_file = tmp_path / "figures.json"
    command = [
        sys.executable, "bench/many_trials.py", "--trials", str(TRIALS),
        "--measure-at", str(EARLY), "--examples", "200", "--json", str(figures_file),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    figures = json.loads(figures_file.read_text())

    assert figures["child_runs"] == TRIALS  # none duplicated, none missing
    assert figures["distinct_trial_ids"] == TRIALS
    assert figures["statuses"] == ["FINISHED"]  # none left RUNNING
    assert len(figures["ended_order"]) == TRIALS  # no trial errored
    for count in (EARLY, TRIALS):
        snapshot = figures["snapshots"][str(count)]
        # Every trial that ended before this one was already down to its best checkpoint.
        assert snapshot["checkpoints_of_ended"] == [1] * (count - 1)
        assert snapshot["driver_rss_mb"] > 0 and snapshot["disk_mb"] > 0
    assert set(figures["suggest_s"]) == {str(EARLY), str(TRIALS), f"{TRIALS} (SQLite)"}
    assert all(seconds > 0 for seconds in figures["suggest_s"].values())
    assert figures["overhead_s_per_trial"]["steady"] < figures["wall_s"]
