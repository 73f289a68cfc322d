"""A report SIGKILLed during its confirmation, then run again: no Tune checkpoint is left; and a
report never deletes the checkpoints of a confirmation another live report is training."""

import os
import signal
import subprocess
import sys
import time

import pytest

from search.confirmation.run_folders import delete_unheld_checkpoints, held_run, new_run_name
from tests.helpers import REPO, report_command, run_in_repo, sweep_command

HOLD = """
import sys, time
from pathlib import Path
from search.confirmation.run_folders import held_run
with held_run(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def _checkpoint(root, run: str):
    folder = root / run / "trial_0" / "checkpoint_000000"
    folder.mkdir(parents=True)
    return folder


def test_a_report_keeps_the_checkpoints_of_a_confirmation_a_live_report_trains(tmp_path):
    """Held by a live process: kept. That process SIGKILLed (its lock dies with it), or a run
    no report held: deleted. Another sweep's runs: never touched."""
    live = _checkpoint(tmp_path, "s-confirm-20260101-000000")
    stale = _checkpoint(tmp_path, "s-confirm-20250101-000000")
    other = _checkpoint(tmp_path, "t-confirm-20250101-000000")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), live.parents[1].name],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        delete_unheld_checkpoints(tmp_path, "s")
        assert live.exists() and not stale.exists() and other.exists()
    finally:
        holder.kill()  # SIGKILL: its own cleanup never runs
        holder.wait()
    assert live.exists()
    delete_unheld_checkpoints(tmp_path, "s")
    assert not live.exists() and other.exists()

    with held_run(tmp_path, "s-confirm-20270101-000000"):  # its own run's go when it ends
        own = _checkpoint(tmp_path, "s-confirm-20270101-000000")
    assert not own.exists()


@pytest.mark.slow
def test_a_report_killed_during_its_confirmation_leaves_no_checkpoint_once_run_again(
    raw_train, slice_dir, tmp_path
):
    """The report is SIGKILLed (with its Ray) while its confirmation's Tune run holds
    checkpoints: the same command again finishes and leaves none, nor any kept model."""
    folder = slice_dir(raw_train[:300], raw_train[300:380])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "killed-report",
        "search.num_samples=1", "search.warm_start=[{criterion: ce}]",
        "search.space.num_train_epochs.int=[2, 2]", "search.scheduler.type=none",
    )  # fmt: skip
    done = run_in_repo(command, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    overrides = [arg for arg in command[command.index("--set") :] if arg != "--set"]
    report = report_command(
        overrides, "--out", str(tmp_path / "out"), "--confirm", "1", "--seeds", "2",
        "--no-register",
    )  # fmt: skip
    results = tmp_path / "results"
    pattern = "killed-report-confirm-*/trial_*/checkpoint_*"

    first = subprocess.Popen(
        report, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while not list(results.glob(pattern)) and first.poll() is None:
        assert time.monotonic() < deadline, "the confirmation never wrote a checkpoint"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the report and the Ray it started
    first.wait()
    assert first.returncode == -signal.SIGKILL, "the report ended before it was killed"
    assert list(results.glob(pattern)), "the kill left no checkpoint: the moment was missed"

    again = run_in_repo(report, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not list(results.rglob("checkpoint_*"))
    assert not list((results / "confirmed-models").glob("*"))


def test_two_reports_started_in_the_same_second_train_in_folders_of_their_own():
    """Each report deletes its own run's checkpoints when it ends: a shared folder would take
    the other's from under it."""
    names = {new_run_name("s") for _ in range(20)}
    assert len(names) == 20 and all(name.startswith("s-confirm-") for name in names)
