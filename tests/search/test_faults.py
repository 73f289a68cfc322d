"""Fault tolerance and bad input, each injected for real on real Ray and MLflow.

Fast cases (bad input before expensive work) run in every `make test`; the injected-failure and
NaN cases are marked slow.
"""

import json
import signal
import subprocess
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from bench.support import free_port
from tests.helpers import (
    REPO,
    run_in_repo,
    sweep_command,
    sweep_runs,
    trial_folders,
    wait_for_finished_trials,
)


@pytest.fixture
def small(raw_train, slice_dir, tmp_path):
    return slice_dir(raw_train[:300], raw_train[300:380]), tmp_path


def test_unreachable_mlflow_fails_fast_before_any_trial(small):
    folder, tmp_path = small
    dead = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    done = run_in_repo(sweep_command(folder, tmp_path, dead, "no-server"), timeout=300)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error:") and all(
        w in line for w in ("tracking.uri", dead, "not usable")
    )
    assert time.monotonic() - start < 120
    assert not trial_folders(tmp_path / "results" / "no-server")


def test_unwritable_storage_path_is_refused(small):
    folder, tmp_path = small
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    command = sweep_command(folder, tmp_path, f"sqlite:///{tmp_path / 'm.db'}", "x")
    done = run_in_repo([*command, "--set", f"storage.path={blocker / 'results'}"], timeout=300)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert all(word in line for word in ("storage.path", str(blocker / "results"), "not writable"))


def test_resources_the_cluster_can_never_meet_are_refused(small):
    folder, tmp_path = small
    command = sweep_command(folder, tmp_path, f"sqlite:///{tmp_path / 'm.db'}", "gpu")
    done = run_in_repo([*command, "--set", "resources.gpu=1"], timeout=300)
    assert done.returncode == 2
    words = ("resources.gpu", "1 GPU", "largest node", "has 0")
    assert any(all(w in line for w in words) for line in done.stderr.splitlines())
    assert not trial_folders(tmp_path / "results" / "gpu")


@pytest.mark.slow
def test_a_failing_trial_is_retried_then_errored_and_the_sweep_finishes(small):
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "faults",
        "search.num_samples=2", "search.max_concurrent=1", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[3, 3]", "failure.max_retries=1",
        faults=json.dumps(
            {"fail_after_epoch": {"epoch": 1, "on_retries": True, "when": {"criterion": "focal"}}}
        ),
    )  # fmt: skip
    done = run_in_repo(command, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 errored (never ranked)" in done.stdout
    assert "| focal |" not in done.stdout  # the errored trial is listed, never ranked

    _, children = sweep_runs(MlflowClient(store), "faults")
    by_criterion = {run.data.params["criterion"]: run for run in children}
    assert by_criterion["ce"].info.status == "FINISHED"
    failed = by_criterion["focal"]
    assert failed.info.status == "FAILED"
    assert "InjectedFailure: injected failure after epoch 2" in failed.data.tags["error"]
    history = MlflowClient(store).get_metric_history(failed.info.run_id, "micro_f1")
    assert sorted(m.step for m in history) == [1, 2]  # the retry resumed after epoch 1

    study = optuna.load_study(
        study_name="faults", storage=f"sqlite:///{tmp_path / 'results' / 'faults' / 'optuna.db'}"
    )
    states = {t.params["criterion"]: t.state for t in study.trials if t.params}
    assert states == {"ce": optuna.trial.TrialState.COMPLETE, "focal": optuna.trial.TrialState.FAIL}


@pytest.mark.slow
def test_a_nan_loss_stops_the_trial_with_a_clear_reason_and_no_score(small):
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "nan",
        "search.num_samples=1", "search.warm_start=[]", "failure.max_retries=0",
        faults=json.dumps({"nan_loss_at_step": {"step": 3}}),
    )  # fmt: skip
    done = run_in_repo(command, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 errored (never ranked)" in done.stdout and "No trial reported a score." in done.stdout
    _, children = sweep_runs(MlflowClient(store), "nan")
    assert children[0].info.status == "FAILED"
    assert "NonFiniteLossError: training loss became" in children[0].data.tags["error"]
    scores = [key for key in children[0].data.metrics if not key.startswith("system/")]
    assert not scores  # nothing reported as a score (the system monitor may have sampled)


@pytest.mark.slow
def test_a_killed_driver_resumes_without_rerunning_or_orphaned_runs(small):
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "killed",
        # Killed after 2 of 5 trials: some trials run before the kill and some after it.
        "search.num_samples=5", "search.max_concurrent=1", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[1, 1]",
    )  # fmt: skip
    client = MlflowClient(store)
    first = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_finished_trials(first, client, "killed", count=2)
    first.kill()  # SIGKILL: no handler runs, no state is saved at the end
    first.wait(timeout=60)

    done = run_in_repo([*command, "--resume"], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    parents, children = sweep_runs(client, "killed")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 5 and {c.info.status for c in children} == {"FINISHED"}
    trial_dirs = trial_folders(tmp_path / "results" / "killed")
    assert len(trial_dirs) == 5
    for trial_dir in trial_dirs:
        lines = (trial_dir / "result.json").read_text().strip().splitlines()
        assert len(lines) == 1  # no finished trial ran again


@pytest.mark.slow
def test_a_driver_killed_as_a_trial_ends_resumes_every_trial_and_keeps_no_checkpoint(small):
    """The checkpoint-deletion window: the driver is SIGKILLed the moment it prints that a
    trial ended, before Tune's saved state says so. Had the ended trial's checkpoint been
    deleted at once, the resume would restore a RUNNING trial from a missing folder."""
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "window",
        "search.num_samples=3", "search.max_concurrent=1", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[2, 2]",
    )  # fmt: skip
    kill_at_first_line(command, " ended | 1 of ")
    resume_to_the_end(command, trials=3)
    _, children = sweep_runs(MlflowClient(store), "window")
    assert len(children) == 3 and {c.info.status for c in children} == {"FINISHED"}
    assert not list((tmp_path / "results" / "window").rglob("checkpoint_*"))


@pytest.mark.slow
def test_an_errored_trial_that_resume_runs_again_finishes_in_mlflow_and_optuna(small):
    """``--resume`` carries an errored trial on from its latest checkpoint, under its own trial
    id, after Optuna was told FAIL: Ray's OptunaSearch ignored the rest ("already finished") and
    the study kept the trial FAIL at epoch 1 while MLflow had it FINISHED. Now Optuna
    gets a trial of the same values, both epochs, told COMPLETE; the failed attempt stays FAIL;
    MLflow keeps one run, each epoch once."""
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = (
        "search.num_samples=1", "search.warm_start=[]", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[2, 2]", "failure.max_retries=0",
    )  # fmt: skip
    failing = sweep_command(
        folder, tmp_path, store, "again", *settings,
        faults=json.dumps({"fail_after_epoch": {"epoch": 1}}),
    )  # fmt: skip
    done = run_in_repo(failing, timeout=600)
    assert done.returncode == 0 and "1 errored" in done.stdout, done.stderr[-3000:]

    resumed = run_in_repo([*sweep_command(folder, tmp_path, store, "again", *settings), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 finished or stopped early, 0 errored" in resumed.stdout
    (child,) = sweep_runs(MlflowClient(store), "again")[1]
    assert child.info.status == "FINISHED"
    for metric in ("epoch", "micro_f1"):
        history = MlflowClient(store).get_metric_history(child.info.run_id, metric)
        assert sorted(m.step for m in history) == [1, 2], metric

    study = optuna.load_study(
        study_name="again", storage=f"sqlite:///{tmp_path / 'results' / 'again' / 'optuna.db'}"
    )
    failed, complete = study.trials
    assert (failed.state, complete.state) == (TrialState.FAIL, TrialState.COMPLETE)
    assert failed.params == complete.params
    assert complete.value == max(complete.intermediate_values.values())
    assert sorted(complete.intermediate_values) == [1, 2]


@pytest.mark.slow
def test_a_driver_killed_as_a_trial_starts_leaves_no_optuna_trial_running(small):
    """What the chaos bench found: the driver SIGKILLed just after it started a
    trial, before Tune's next state save. The resumed sweep never hears of that trial and runs
    another; Optuna had suggested it (its study is written at once) and kept it RUNNING."""
    folder, tmp_path = small
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, "forgot",
        "search.num_samples=3", "search.max_concurrent=1", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[2, 2]",
    )  # fmt: skip
    kill_at_first_line(command, " started | 1 of ")
    resume_to_the_end(command, trials=3)
    study = optuna.load_study(
        study_name="forgot", storage=f"sqlite:///{tmp_path / 'results' / 'forgot' / 'optuna.db'}"
    )
    states = [trial.state for trial in study.trials]
    assert states.count(TrialState.FAIL) == 1, states  # the forgotten trial: the moment was hit
    assert states.count(TrialState.COMPLETE) == 3 and TrialState.RUNNING not in states
    _, children = sweep_runs(MlflowClient(store), "forgot")
    assert len(children) == 3 and {c.info.status for c in children} == {"FINISHED"}


def kill_at_first_line(command: list[str], event: str) -> None:
    """Start the sweep and SIGKILL it at once when its progress line first says ``event``
    (no handler runs, no state save follows)."""
    sweep = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in sweep.stdout:
        if "sweep: trial" in line and event in line:
            sweep.kill()
            break
    sweep.wait(timeout=60)
    assert sweep.returncode == -signal.SIGKILL, f"the sweep ended before a line said {event!r}"


def resume_to_the_end(command: list[str], trials: int) -> None:
    done = run_in_repo([*command, "--resume"], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{trials} finished or stopped early, 0 errored" in done.stdout
