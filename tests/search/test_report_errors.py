"""Report input problems give one clear line: unknown experiment, empty sweep, failed trials only."""

import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from search.report.cli import main


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
    client.create_run(experiment_id, tags={"sweep.name": "empty"}, run_name="empty")
    code, error = report(uri, capsys, "--experiment", "sweeps")
    assert code == 2 and says(error, "sweep 'empty'", "has no trials")


def test_sweep_whose_trials_all_failed_lists_them(store, capsys):
    uri, client, experiment_id = store
    parent = client.create_run(experiment_id, tags={"sweep.name": "broken"}).info.run_id
    for trial in ("t1", "t2"):
        child = client.create_run(
            experiment_id, tags={"mlflow.parentRunId": parent, "ray.trial_id": trial}
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
