"""docker/mlflow_bootstrap.py against a real `mlflow server --app-name basic-auth` on 127.0.0.1,
started by the script itself as the compose service starts it (SQLite stores in a temp folder,
the auth settings of docker/mlflow-auth.ini): the sweep user it makes can log runs to the sweep's
experiment and nothing else, and a second start changes nothing."""

from __future__ import annotations

import configparser
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from unittest.mock import patch

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from bench.support import free_port, stop_mlflow_server, wait_until_answers
from tests.docker.helpers import MLFLOW_AUTH_INI, MLFLOW_BOOTSTRAP, dev_module

ADMIN = ("admin", "admin-" + "a" * 32)
SWEEP = ("sweep", "sweep-" + "s" * 32)
EXPERIMENT = "klue-re-loss-sweep"


def _bootstrap(uri: str, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MLFLOW_BOOTSTRAP), *args, "--uri", uri],
        capture_output=True, text=True, timeout=300, env=environment,
    )  # fmt: skip


def _login(username: str, password: str):
    """MLflow's clients read the login from the environment; set it for the calls inside."""
    login = {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}
    return patch.dict(os.environ, login)


def _status(call) -> int:
    try:
        call()
    except MlflowException as error:
        return error.get_http_status_code()
    return 200


def _users(uri: str):
    # Imported here: mlflow.server.auth needs Flask-WTF at import, which `served` checks first.
    from mlflow.server.auth.client import AuthServiceClient

    return AuthServiceClient(uri)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`mlflow_bootstrap.py serve -- mlflow server ...` on a free loopback port, bootstrapped;
    (uri, environment of the mlflow container, the serve process, its log)."""
    dev_module("flask_wtf")  # the basic-auth app's CSRF protection needs Flask-WTF
    folder = tmp_path_factory.mktemp("mlflow_auth")
    # The shipped settings, with the user store moved into the temp folder.
    settings = configparser.ConfigParser()
    settings.read(MLFLOW_AUTH_INI)
    settings["mlflow"]["database_uri"] = f"sqlite:///{folder / 'basic_auth.db'}"
    with (folder / "auth.ini").open("w") as ini:
        settings.write(ini)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(folder / "auth.ini"),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_SWEEP_USERNAME": SWEEP[0],
        "MLFLOW_SWEEP_PASSWORD": SWEEP[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "k" * 32,
    }
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_SWEEP_EXPERIMENT"):
        environment.pop(key, None)
    command = [
        sys.executable, str(MLFLOW_BOOTSTRAP), "serve", "--uri", uri, "--",
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--app-name", "basic-auth", "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    log = folder / "serve.log"
    with log.open("w") as output:
        serve = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True,
        )  # fmt: skip
    server_pids: list[int] = []
    try:
        wait_until_answers(f"{uri}/health", serve, log, timeout=180)
        server_pids = _children(serve.pid)
        deadline = time.monotonic() + 300  # each login hashes the password: slow on a busy CPU
        while "mlflow-bootstrap:" not in log.read_text() and serve.poll() is None:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        assert "mlflow-bootstrap: user 'sweep' created" in log.read_text(), log.read_text()
        yield uri, environment, serve, log
    finally:
        if serve.poll() is None:
            stop_mlflow_server(serve)
        for pid in server_pids:  # the server's own process group, if the forwarding failed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_sweep_user_can_log_to_its_experiment_and_nothing_else(served):
    uri, environment, _serve, log = served
    assert _bootstrap(uri, environment, "check").returncode == 0
    with _login(*ADMIN):
        admin = MlflowClient(uri)
        other = admin.create_experiment("someone-elses")
        others_run = admin.create_run(other).info.run_id

    with _login(*SWEEP):
        sweep = MlflowClient(uri)
        experiment = sweep.get_experiment_by_name(EXPERIMENT)
        assert experiment is not None
        # Everything a sweep does: runs, metrics, artifacts through the server, reading back,
        # and soft-deleting its own runs (orphans on --resume, interrupted confirmations).
        run = sweep.create_run(experiment.experiment_id).info.run_id
        sweep.log_metric(run, "selection_f1", 0.5)
        artifact = Path(log.parent / "search.yaml")
        artifact.write_text("space: {}\n")
        sweep.log_artifact(run, str(artifact))
        assert [info.path for info in sweep.list_artifacts(run)] == ["search.yaml"]
        sweep.set_terminated(run)
        assert len(sweep.search_runs([experiment.experiment_id])) == 1
        # The report's registration of the winner: a registered model, a version from its run,
        # tags and the champion alias (MLflow lets any user create a registered model and
        # makes its creator its manager; no grant of ours is needed).
        source = f"{sweep.get_run(run).info.artifact_uri}/search.yaml"
        sweep.create_registered_model(EXPERIMENT)
        version = sweep.create_model_version(EXPERIMENT, source, run_id=run).version
        sweep.set_model_version_tag(EXPERIMENT, version, "criterion", "ce")
        sweep.set_registered_model_alias(EXPERIMENT, "champion", version)
        assert sweep.get_model_version_by_alias(EXPERIMENT, "champion").run_id == run
        sweep.delete_run(run)
        # What it must not do.
        assert _status(lambda: sweep.get_experiment(other)) == 403
        assert _status(lambda: sweep.create_run(other)) == 403
        assert _status(lambda: sweep.delete_run(others_run)) == 403
        assert _status(lambda: sweep.delete_experiment(experiment.experiment_id)) == 403
        users = _users(uri)
        assert _status(lambda: users.create_user("intruder", "i" * 32)) == 403
        assert _status(lambda: users.update_user_admin(SWEEP[0], True)) == 403
        grant = lambda: users.grant_user_permission(SWEEP[0], "experiment", other, "EDIT")  # noqa: E731
        assert _status(grant) == 403
        assert [e.name for e in sweep.search_experiments()] == [EXPERIMENT]


@pytest.mark.slow
def test_a_second_bootstrap_changes_nothing_and_a_changed_grant_is_put_back(served):
    uri, environment, _serve, _log = served
    again = _bootstrap(uri, environment, "bootstrap")
    assert again.returncode == 0, again.stderr
    assert "user 'sweep' exists" in again.stdout
    assert "EDIT unchanged" in again.stdout and "MANAGE unchanged" in again.stdout

    with _login(*ADMIN):
        admin = _users(uri)
        experiment_id = MlflowClient(uri).get_experiment_by_name(EXPERIMENT).experiment_id
        admin.revoke_user_permission(SWEEP[0], "experiment", experiment_id)
        admin.grant_user_permission(SWEEP[0], "experiment", experiment_id, "READ")
    fixed = _bootstrap(uri, environment, "bootstrap")
    assert fixed.returncode == 0, fixed.stderr
    assert "EDIT reset from READ" in fixed.stdout
    with _login(*ADMIN):
        permission = _users(uri).get_user_permission(SWEEP[0], "experiment", experiment_id)
        assert permission.permission == "EDIT"
        assert _users(uri).get_user(SWEEP[0]).is_admin is False
    for output in (again, fixed):
        assert ADMIN[1] not in output.stdout + output.stderr
        assert SWEEP[1] not in output.stdout + output.stderr


@pytest.mark.slow
def test_a_wrong_admin_password_fails_with_a_message_and_no_password(served):
    uri, environment, _serve, _log = served
    wrong = {**environment, "MLFLOW_AUTH_ADMIN_PASSWORD": "w" * 40}
    done = _bootstrap(uri, wrong, "bootstrap")
    assert done.returncode == 1
    assert "admin login was refused" in done.stderr
    assert "w" * 40 not in done.stdout + done.stderr


@pytest.mark.slow
def test_stopping_the_container_stops_the_server(served):
    # Last: it ends the module's server. serve is PID 1 of the container; it must pass the stop
    # signal on rather than ignore it, and the server must let go of its port.
    uri, _environment, serve, log = served
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=60) in (0, 128 + signal.SIGTERM), log.read_text()[-2000:]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{uri}/health", timeout=5)


# --- without a server (fast) ---------------------------------------------------------------------


def _offline(*args: str, **environment: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", ""), **environment}
    return subprocess.run(
        [sys.executable, str(MLFLOW_BOOTSTRAP), *args],
        capture_output=True, text=True, timeout=60, env=clean,
    )  # fmt: skip


def test_an_unreachable_server_is_one_line_and_exit_1():
    uri = f"http://127.0.0.1:{free_port()}"
    done = _offline(
        "check", "--uri", uri, MLFLOW_SWEEP_USERNAME="sweep", MLFLOW_SWEEP_PASSWORD="p" * 32
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "mlflow-bootstrap:" in done.stderr, done.stderr
    assert "p" * 32 not in done.stderr


def test_a_server_that_dies_before_answering_fails_the_container():
    done = _offline("serve", "--timeout", "30", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert done.returncode == 1
    assert "exited with code 3" in done.stderr


def test_the_sweep_user_cannot_be_the_admin():
    done = _offline(
        "bootstrap", "--uri", f"http://127.0.0.1:{free_port()}",
        MLFLOW_AUTH_ADMIN_USERNAME="admin", MLFLOW_AUTH_ADMIN_PASSWORD="a" * 32,
        MLFLOW_SWEEP_USERNAME="admin", MLFLOW_SWEEP_PASSWORD="s" * 32,
    )  # fmt: skip
    assert done.returncode == 1
    assert "must differ" in done.stderr
