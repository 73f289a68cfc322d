"""Report input problems give one clear line: unknown experiment, empty sweep, failed trials only."""

import subprocess
import sys
import time

import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from bench.support import free_port
from search.report.cli import main
from tests.helpers import REPO
from trainable.common.tracking.client import PARENT_TAG, SWEEP_TAG, TRIAL_ID_TAG


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("sweeps")
    return uri, client, experiment_id


def report(uri, capsys, *args):
    code = main(["--tracking-uri", uri, *args])
    return code, capsys.readouterr().err.strip()


def says(error: str, *words: str) -> bool:
    """One line (no traceback), marked as an error, holding every word a user needs."""
    return "\n" not in error and error.startswith("error:") and all(w in error for w in words)


def test_unknown_experiment(store, capsys):
    uri, _, _ = store
    code, error = report(uri, capsys, "--experiment", "nope")
    assert code == 2 and says(error, "no MLflow experiment", "'nope'", uri)


def test_experiment_without_a_sweep(store, capsys):
    uri, _, _ = store
    code, error = report(uri, capsys, "--experiment", "sweeps")
    assert code == 2 and says(error, "no sweep", "'sweeps'", uri)


def test_sweep_without_trials(store, capsys):
    uri, client, experiment_id = store
    client.create_run(experiment_id, tags={SWEEP_TAG: "empty"}, run_name="empty")
    code, error = report(uri, capsys, "--experiment", "sweeps")
    assert code == 2 and says(error, "sweep 'empty'", "has no trials")


def test_sweep_whose_trials_all_failed_lists_them(store, capsys):
    uri, client, experiment_id = store
    parent = client.create_run(experiment_id, tags={SWEEP_TAG: "broken"}).info.run_id
    for trial in ("t1", "t2"):
        child = client.create_run(
            experiment_id, tags={PARENT_TAG: parent, TRIAL_ID_TAG: trial}
        ).info.run_id
        client.log_param(child, "criterion", "focal")
        client.set_terminated(child, status=RunStatus.to_string(RunStatus.FAILED))
    code, error = report(uri, capsys, "--run-id", parent)
    assert code == 2
    assert says(error, "sweep 'broken'", "no scored trial", "2 trials", "t1: failed", "t2: failed")


def test_neither_config_nor_tracking_uri(capsys):
    assert main([]) == 2
    assert (
        "give --config, or --tracking-uri with --experiment or --run-id" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "form",
    [
        ["--experiment", "sweeps"],
        ["--config", "configs/quickstart.yaml", "--set", "tracking.uri={uri}"],
    ],
    ids=["flags", "config"],
)
def test_a_server_that_does_not_answer_is_one_line_in_seconds(form):
    """Nothing listens on the port: one request, no retries (MLflow's own retry for minutes)."""
    uri = f"http://127.0.0.1:{free_port()}"
    args = [arg.format(uri=uri) for arg in form]
    command = [sys.executable, "-m", "search.report", "--tracking-uri", uri, *args]
    if "--config" in form:
        command.remove("--tracking-uri")
        command.remove(uri)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and time.monotonic() - started < 30
    assert says(done.stderr.strip(), uri, "MLflow is not usable")


def test_a_sqlite_store_that_does_not_exist_is_refused_not_created(tmp_path, capsys):
    path = tmp_path / "mlfow.db"  # a typo of the store's name
    code, error = report(f"sqlite:///{path}", capsys, "--experiment", "sweeps")
    assert code == 2 and says(error, str(path), "does not exist")
    assert not path.exists()


@pytest.mark.parametrize("flag", [["--seeds", "1"], ["--confirm", "-1"]])
def test_confirmation_flags_out_of_range(store, capsys, flag):
    uri, client, experiment_id = store
    client.create_run(experiment_id, tags={SWEEP_TAG: "empty"}, run_name="empty")
    code, error = report(uri, capsys, "--experiment", "sweeps", *flag)
    assert code == 2 and says(error, flag[0], flag[1])


def test_a_trial_run_id_names_its_sweep(store, capsys):
    uri, client, experiment_id = store
    parent = client.create_run(experiment_id, tags={SWEEP_TAG: "swept"}).info.run_id
    child = client.create_run(
        experiment_id, tags={PARENT_TAG: parent, TRIAL_ID_TAG: "t1"}
    ).info.run_id
    code, error = report(uri, capsys, "--run-id", child)
    assert code == 2 and says(error, f"run {child}", "sweep 'swept'", f"--run-id {parent}")
