#!/usr/bin/env python3
"""Start the MLflow server of docker/docker-compose.yml and give the sweep its own account.

The admin account (MLFLOW_AUTH_ADMIN_*) never leaves the mlflow container: MLflow creates it on
the first start, and this script uses it to make sure, on every start, that

- the sweep user MLFLOW_SWEEP_USERNAME exists, is not an admin, and has the password
  MLFLOW_SWEEP_PASSWORD (editing docker/.env and restarting rotates it);
- the experiment MLFLOW_SWEEP_EXPERIMENT exists (default: configs/loss_sweep.yaml's);
- the sweep user has EDIT on that experiment (and may soft-delete its runs), and nothing
  anywhere else (mlflow-auth.ini: default_permission = NO_PERMISSIONS).

Every step reads first and writes only what differs, so a restart changes nothing. Standard
library only (it runs in MLflow's image, against MLflow's REST API):

  mlflow_bootstrap.py serve [--uri URI] -- mlflow server ...   # the compose service's command
  mlflow_bootstrap.py bootstrap [--uri URI]                    # once, against a running server
  mlflow_bootstrap.py check [--uri URI]                        # healthcheck: the sweep user works
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URI = "http://127.0.0.1:5000"
# configs/loss_sweep.yaml's tracking.experiment; the report's confirmation runs log there too.
DEFAULT_EXPERIMENT = "klue-re-loss-sweep"
# What the sweep user may do. EDIT on its experiment: create and update runs, log artifacts,
# read them back; not delete or rename the experiment, nor grant anyone anything. Runs are a
# separate, wildcard-only grant: the sweep soft-deletes runs (a killed driver's orphans on
# --resume, interrupted confirmation runs), which EDIT does not allow; every run operation also
# needs read on the run's experiment, so with default_permission = NO_PERMISSIONS this reaches
# only the runs of the sweep's experiment (and of experiments the user creates itself).
EXPERIMENT_PERMISSION = "EDIT"
RUN_PERMISSION = "MANAGE"

USERS = "/api/2.0/mlflow/users"
EXPERIMENTS = "/api/2.0/mlflow/experiments"
PERMISSIONS = "/api/3.0/mlflow/users/permissions"


class BootstrapError(RuntimeError):
    """A step failed; the message names the step and never a password."""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise BootstrapError(f"{name} is not set")
    return value


class Api:
    """JSON calls to the server as one user (HTTP basic auth), without retries: a caller that
    fails should say so at once, and the server is known to be up."""

    def __init__(self, uri: str, username: str, password: str) -> None:
        self.uri = uri.rstrip("/")
        login = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {login}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(HTTP status, JSON answer); an error answer is returned, not raised."""
        url = self.uri + path
        data = None
        if method == "GET" and body:
            url += "?" + urllib.parse.urlencode(body)
        elif body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        except OSError as error:  # refused, reset, timed out: the server went away
            reason = getattr(error, "reason", None) or error
            raise BootstrapError(f"{method} {path}: {reason}") from None
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"message": text[:200].decode(errors="replace")}
        return status, answer if isinstance(answer, dict) else {}

    def ok(self, method: str, path: str, body: dict | None = None, step: str = "") -> dict:
        status, answer = self.call(method, path, body)
        if status == 401:
            raise BootstrapError(f"{step}: the server refused the login (HTTP 401)")
        if status != 200:
            detail = answer.get("error_code") or answer.get("message") or ""
            raise BootstrapError(f"{step}: HTTP {status} {detail}".rstrip())
        return answer


def _missing(status: int, answer: dict) -> bool:
    return status == 404 or answer.get("error_code") == "RESOURCE_DOES_NOT_EXIST"


def ensure_sweep_user(admin: Api, username: str, password: str) -> str:
    status, answer = admin.call("GET", f"{USERS}/get", {"username": username})
    if status == 401:
        raise BootstrapError(
            "the admin login was refused: MLFLOW_ADMIN_USERNAME/PASSWORD in docker/.env are not "
            "the login the user store holds (MLflow reads them on the first start only; rotate "
            "the password with MLflow's update-password API)"
        )
    if _missing(status, answer):
        admin.ok(
            "POST",
            f"{USERS}/create",
            {"username": username, "password": password},
            step=f"create user {username!r}",
        )
        return "created"
    if status != 200:
        raise BootstrapError(f"look up user {username!r}: HTTP {status}")
    if answer.get("user", {}).get("is_admin"):
        admin.ok(
            "PATCH",
            f"{USERS}/update-admin",
            {"username": username, "is_admin": False},
            step=f"make {username!r} a non-admin",
        )
    # Setting the same password again is harmless; checking it first would need its login.
    admin.ok(
        "PATCH",
        f"{USERS}/update-password",
        {"username": username, "password": password},
        step=f"set the password of {username!r}",
    )
    return "exists"


def ensure_experiment(admin: Api, name: str) -> str:
    status, answer = admin.call("GET", f"{EXPERIMENTS}/get-by-name", {"experiment_name": name})
    if status == 200:
        experiment = answer["experiment"]
        if experiment.get("lifecycle_stage") == "deleted":
            raise BootstrapError(
                f"experiment {name!r} is deleted; restore it (MLflow UI or restore API) or set "
                "MLFLOW_SWEEP_EXPERIMENT to another name"
            )
        return experiment["experiment_id"]
    if not _missing(status, answer):
        raise BootstrapError(f"look up experiment {name!r}: HTTP {status}")
    created = admin.ok(
        "POST", f"{EXPERIMENTS}/create", {"name": name}, step=f"create experiment {name!r}"
    )
    return created["experiment_id"]


def ensure_grant(
    admin: Api, username: str, resource_type: str, resource_id: str, permission: str
) -> str:
    grant = {
        "username": username,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "permission": permission,
    }
    where = {key: grant[key] for key in ("username", "resource_type", "resource_id")}
    step = f"grant {permission} on {resource_type} {resource_id} to {username!r}"
    status, answer = admin.call("POST", f"{PERMISSIONS}/grant", grant)
    if status == 200:
        return "granted"
    if answer.get("error_code") != "RESOURCE_ALREADY_EXISTS":
        raise BootstrapError(f"{step}: HTTP {status} {answer.get('error_code', '')}".rstrip())
    current = admin.ok("GET", f"{PERMISSIONS}/get", where, step=f"read the grant of {username!r}")
    if current.get("permission") == permission:
        return "unchanged"
    # Changed by hand since: back to exactly this level (one user's grant has no update call).
    admin.ok("POST", f"{PERMISSIONS}/revoke", where, step=f"revoke the old grant of {username!r}")
    admin.ok("POST", f"{PERMISSIONS}/grant", grant, step=step)
    return f"reset from {current.get('permission')}"


def bootstrap(uri: str) -> None:
    admin_name = _env("MLFLOW_AUTH_ADMIN_USERNAME")
    admin = Api(uri, admin_name, _env("MLFLOW_AUTH_ADMIN_PASSWORD"))
    username = _env("MLFLOW_SWEEP_USERNAME")
    if username == admin_name:
        raise BootstrapError("MLFLOW_SWEEP_USERNAME must differ from MLFLOW_ADMIN_USERNAME")
    experiment = os.environ.get("MLFLOW_SWEEP_EXPERIMENT") or DEFAULT_EXPERIMENT
    user = ensure_sweep_user(admin, username, _env("MLFLOW_SWEEP_PASSWORD"))
    experiment_id = ensure_experiment(admin, experiment)
    on_experiment = ensure_grant(
        admin, username, "experiment", experiment_id, EXPERIMENT_PERMISSION
    )
    on_runs = ensure_grant(admin, username, "run", "*", RUN_PERMISSION)
    print(
        f"mlflow-bootstrap: user {username!r} {user}; experiment {experiment!r} "
        f"(id {experiment_id}): {EXPERIMENT_PERMISSION} {on_experiment}; "
        f"runs: {RUN_PERMISSION} {on_runs}",
        flush=True,
    )


def check(uri: str) -> None:
    """The sweep user can log in and read its experiment: the server is up and bootstrapped."""
    experiment = os.environ.get("MLFLOW_SWEEP_EXPERIMENT") or DEFAULT_EXPERIMENT
    sweep = Api(uri, _env("MLFLOW_SWEEP_USERNAME"), _env("MLFLOW_SWEEP_PASSWORD"))
    sweep.ok(
        "GET",
        f"{EXPERIMENTS}/get-by-name",
        {"experiment_name": experiment},
        step=f"the sweep user reads experiment {experiment!r}",
    )


def wait_until_healthy(uri: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None:
            raise BootstrapError(f"the server exited with code {server.returncode} before /health")
        if time.monotonic() > deadline:
            raise BootstrapError(f"{uri}/health did not answer within {timeout:.0f} s")
        time.sleep(1)


def serve(uri: str, command: list[str], timeout: float) -> int:
    """Run the server, bootstrap once it answers, then stay until it exits (forwarding the stop
    signals: as PID 1 of a container this process would otherwise ignore SIGTERM)."""
    if not command:
        raise BootstrapError("serve needs the server command after --")
    # Its own process group, so a stop reaches the server's web workers too.
    server = subprocess.Popen(command, start_new_session=True)

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(server.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        wait_until_healthy(uri, server, timeout)
        bootstrap(uri)
    except BootstrapError:
        forward(signal.SIGTERM, None)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            forward(signal.SIGKILL, None)
        raise
    code = server.wait()
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="mlflow-bootstrap", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["serve", "bootstrap", "check"])
    parser.add_argument("--uri", default=DEFAULT_URI, help="the server, as seen from here")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for /health")
    args = parser.parse_args(argv)
    try:
        if args.action == "serve":
            return serve(args.uri, command, args.timeout)
        if args.action == "bootstrap":
            bootstrap(args.uri)
        else:
            check(args.uri)
    except BootstrapError as error:
        print(f"mlflow-bootstrap: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
