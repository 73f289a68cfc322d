"""docker/docker-compose.yml for real (tests/docker/e2e.sh: `make docker-test`): the stack up on
the stand-in bases with the loopback override, its security on the running services, a small
sweep submitted with `ray job submit` whose trials run in the worker container and log to MLflow
on PostgreSQL, the report against the server, and `down -v` leaving nothing. In file order:
the sweep test feeds the report test, and the last test takes the stack down."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from mlflow.tracking import MlflowClient

from bench.support import TINY_MODEL
from tests.docker.stack import (
    EXPERIMENT,
    MLFLOW,
    RAY_DASHBOARD,
    Timer,
    compose,
    http,
    is_loopback,
    leftovers,
    listeners,
)
from tests.helpers import REPO

pytestmark = pytest.mark.docker

SWEEP_NAME = f"docker-e2e-{time.strftime('%Y%m%d-%H%M%S')}"
IN_IMAGE_CONFIG = "/home/ray/klue-loss-sweep/configs/quickstart.yaml"


def _sweep_login(values: dict[str, str]) -> tuple[str, str]:
    return values["MLFLOW_SWEEP_USERNAME"], values["MLFLOW_SWEEP_PASSWORD"]


def _sweep_login_env(values: dict[str, str]) -> dict[str, str]:
    """The sweep user's login as MLflow's client reads it from the environment."""
    username, password = _sweep_login(values)
    return {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}


def test_every_listener_is_on_loopback(stack):
    found = listeners()
    # The known ports: MLflow, the Ray dashboard and GCS, PostgreSQL.
    for port in ("5000", "8265", "6379", "5432"):
        assert any(address.endswith(f":{port}") for address in found), (port, found)
    if os.environ.get("DOCKER_TEST_NETNS"):  # this namespace holds nothing but the stack
        assert [address for address in found if not is_loopback(address)] == []
    else:
        ours = [a for a in found if a.rsplit(":", 1)[1] in {"5000", "8265", "6379", "5432"}]
        assert all(is_loopback(address) for address in ours), ours


def test_mlflow_asks_for_a_login(stack):
    _env_file, values = stack
    url = f"{MLFLOW}/api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT}"
    assert http(url)[0] == 401
    assert http(url, login=("sweep", "wrong-" + "x" * 32))[0] == 401
    status, text = http(url, login=_sweep_login(values))
    assert status == 200, text


def test_the_sweep_user_cannot_create_users(stack):
    _env_file, values = stack
    body = {"username": "intruder", "password": "i" * 40}
    status, _ = http(f"{MLFLOW}/api/2.0/mlflow/users/create", _sweep_login(values), method="POST",
                     body=body)  # fmt: skip
    assert status == 403
    admin = (values["MLFLOW_ADMIN_USERNAME"], values["MLFLOW_ADMIN_PASSWORD"])
    status, _ = http(f"{MLFLOW}/api/2.0/mlflow/users/get?username=intruder", admin)
    assert status == 404, "the refused user must not exist"


def test_the_ray_job_api_refuses_a_client_without_the_token(stack):
    _env_file, values = stack
    assert http(f"{RAY_DASHBOARD}/api/jobs/")[0] == 401  # no token
    assert http(f"{RAY_DASHBOARD}/api/jobs/", bearer="w" * 64)[0] == 403  # a wrong one
    status, text = http(f"{RAY_DASHBOARD}/api/jobs/", bearer=values["RAY_AUTH_TOKEN"])
    assert status == 200, text


@pytest.mark.parametrize(("service", "secret"), [("mlflow", "MLFLOW_AUTH_ADMIN_PASSWORD"),
                                                 ("postgres", "POSTGRES_PASSWORD")])  # fmt: skip
def test_a_container_with_a_change_me_secret_exits_with_the_message(stack, service, secret):
    env_file, _values = stack
    done = compose(env_file, "run", "--rm", "--no-deps", "-e", f"{secret}=change-me", service,
                   timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"refusing to start: {secret} is still the placeholder change-me" in done.stderr


def test_the_ray_head_command_refuses_a_change_me_token(stack):
    """The ray-head service's own command, run in its running container with the placeholder
    token: a new container of the Ray image would cost a minute of copying under vfs. Were the
    check missing, the command would try to start a second head here and fail otherwise."""
    env_file, _values = stack
    config = json.loads(compose(env_file, "config", "--format", "json").stdout)
    command = config["services"]["ray-head"]["command"]
    assert command[0] == "check-secrets", command
    done = compose(env_file, "exec", "-T", "-e", "RAY_AUTH_TOKEN=change-me", "ray-head", *command,
                   timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refusing to start: RAY_AUTH_TOKEN is still the placeholder change-me" in done.stderr


def _ray_client_env(values: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": values["RAY_AUTH_TOKEN"]}


def test_a_sweep_submitted_with_ray_job_submit_logs_finished_runs(stack):
    _env_file, values = stack
    overrides = [
        "ray.address=auto", "tracking.uri=http://mlflow:5000", f"tracking.experiment={EXPERIMENT}",
        f"experiment.name={SWEEP_NAME}", "storage.path=/shared/ray_results",
        "data.train_subsample=null", "data.dev_subsample=null", "data.max_length=96",
        *TINY_MODEL, "train.batch_size=16", "search.num_samples=2", "search.max_concurrent=2",
        "search.scheduler.type=none", "search.space.num_train_epochs.int=[1, 1]",
        "resources.cpu=1",
    ]  # fmt: skip
    command = [str(Path(sys.executable).parent / "ray"), "job", "submit",
               "--address", RAY_DASHBOARD, "--", "python", "-m", "search.run",
               "--config", IN_IMAGE_CONFIG]  # fmt: skip
    for override in overrides:
        command += ["--set", override]
    with Timer("sweep_s"):
        done = subprocess.run(command, capture_output=True, text=True, timeout=1500,
                              env=_ray_client_env(values), cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "succeeded" in done.stdout

    parent, children = _sweep_runs(values)
    assert parent.info.status == "FINISHED"
    assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.tags["ray.node_id"] for c in children} <= _worker_node_ids(values)


def _sweep_runs(values: dict[str, str]) -> tuple[Any, list[Any]]:
    """The sweep's parent run and its child runs, read back as the sweep user."""
    with mock.patch.dict(os.environ, _sweep_login_env(values)):
        client = MlflowClient(MLFLOW)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("sweep.name") == SWEEP_NAME]
    assert len(parents) == 1, [r.data.tags.get("sweep.name") for r in runs]
    parent_id = parents[0].info.run_id
    return parents[0], [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]


def _worker_node_ids(values: dict[str, str]) -> set[str]:
    """The node ids of the cluster's non-head nodes, from Ray's state API (token auth)."""
    code = (
        "from ray.util.state import list_nodes; "
        f"print(' '.join(n.node_id for n in list_nodes(address={RAY_DASHBOARD!r}) "
        "if not n.is_head_node))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=_ray_client_env(values))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split(), "the cluster has no worker node"
    return set(done.stdout.split())


def test_the_report_runs_against_the_server(stack, tmp_path):
    _env_file, values = stack
    command = [sys.executable, "-m", "search.report", "--tracking-uri", MLFLOW,
               "--experiment", EXPERIMENT, "--confirm", "0", "--out", str(tmp_path / "report")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, **_sweep_login_env(values)})  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (tmp_path / "report" / "trials.csv").open(newline="") as table:
        reported = {row["run_id"]: row["status"] for row in csv.DictReader(table)}
    _parent, children = _sweep_runs(values)
    assert reported == {child.info.run_id: "finished" for child in children}


def test_down_leaves_nothing_of_ours(stack):
    env_file, _values = stack
    done = compose(env_file, "down", "--volumes", "--remove-orphans", "--timeout", "30")
    assert done.returncode == 0, done.stderr
    assert leftovers() == {"containers": [], "volumes": [], "networks": []}
