"""``make dashboard`` against the real optuna-dashboard on 127.0.0.1: any local process (or a
page in the user's browser, through DNS rebinding) reaches the port, so it must serve the
study read-only and only to requests addressed to this loopback host."""

import hashlib
import subprocess
import urllib.error
import urllib.request

import optuna
import pytest

from bench.support import free_port, stop_mlflow_server, wait_until_answers
from tests.helpers import REPO
from tests.search.test_review import get_json, make_dashboard

STUDY = "planted-target"


@pytest.fixture
def dashboard(tmp_path):
    """A 3-trial study in ``<storage>/<sweep>/optuna.db`` served by ``make dashboard``; yields
    (base URL, the study file)."""
    study_db = tmp_path / STUDY / "optuna.db"
    study_db.parent.mkdir()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{study_db}")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    port, log = free_port(), tmp_path / "dashboard.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            make_dashboard(f"SWEEP={STUDY}", f"STORAGE={tmp_path}", f"DASHBOARD_PORT={port}"),
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{base}/api/studies", server, log)
        yield base, study_db
    finally:
        stop_mlflow_server(server)  # the dashboard's whole process group


def status(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_dashboard_refuses_writes_and_foreign_hosts(dashboard):
    base, study_db = dashboard
    before = hashlib.sha256(study_db.read_bytes()).hexdigest()
    (study,) = get_json(f"{base}/api/studies")["study_summaries"]
    study_id = study["study_id"]
    assert status(f"{base}/api/studies/{study_id}", "DELETE") in (403, 405)
    note = b'{"version": 0, "body": "planted"}'
    json_type = {"Content-Type": "application/json"}
    assert status(f"{base}/api/studies/{study_id}/note", "PUT", json_type, note) in (403, 405)
    assert status(f"{base}/api/studies", "POST", json_type, b'{"study_name": "x"}') in (403, 405)
    rebound = {"Host": f"attacker.example:{base.rsplit(':', 1)[1]}"}
    assert status(f"{base}/api/studies", headers=rebound) == 403
    assert [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{study_db}")] == [
        STUDY
    ]
    assert hashlib.sha256(study_db.read_bytes()).hexdigest() == before
    assert status(f"{base}/dashboard/studies/{study_id}") == 200  # reading still works
