"""The many-trials bench end to end, small: a real sweep of 12 short trials through
``python -m search.run`` against the ``mlflow server`` the bench starts on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow
TRIALS, EARLY = 12, 4


def test_every_trial_is_one_finished_run_and_ended_trials_leave_no_checkpoint(tmp_path, klue_dir):
    figures_file = tmp_path / "figures.json"
    command = [
        sys.executable, "bench/many_trials.py", "--trials", str(TRIALS),
        "--measure-at", str(EARLY), "--examples", "200", "--json", str(figures_file),
    ]  # fmt: skip
    bench = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)  # fmt: skip
    try:
        output, _ = bench.communicate(timeout=1500)
    finally:  # the driver, Ray and the MLflow server are in the bench's session: stop them all
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
    assert bench.returncode == 0, output[-4000:]
    figures = json.loads(figures_file.read_text())

    assert figures["child_runs"] == TRIALS  # none duplicated, none missing
    assert figures["distinct_trial_ids"] == TRIALS
    assert figures["statuses"] == ["FINISHED"]  # none left RUNNING
    assert len(figures["ended_order"]) == TRIALS  # no trial errored
    for count in (EARLY, TRIALS):
        snapshot = figures["snapshots"][str(count)]
        # An ended trial holds at most its latest, until Tune's saved state says it ended;
        # tests/trainable/test_ray_tune.py proves the deletion itself.
        held = {int(n): trials for n, trials in snapshot["checkpoints_of_ended"].items()}
        assert set(held) <= {0, 1} and sum(held.values()) == count - 1
        assert snapshot["driver_rss_mb"] > 0 and snapshot["disk_mb"] > 0
    assert figures["final_checkpoint_mb"] == 0  # a finished sweep holds no weights
    assert set(figures["suggest_s"]) == {str(EARLY), str(TRIALS), f"{TRIALS} (SQLite)"}
    assert all(seconds > 0 for seconds in figures["suggest_s"].values())
    assert 0 < figures["trial_s_median"] < figures["wall_s"]
