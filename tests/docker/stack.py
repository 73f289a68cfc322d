"""The real compose stack of `make docker-test` (tests/docker/e2e.sh): docker/docker-compose.yml
with the loopback override, a generated env file of random secrets, a small KLUE slice, and the
calls the stack tests make to it. Everything here talks to 127.0.0.1 only."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.docker.helpers import COMPOSE, COMPOSE_CPU, dev_tool
from tests.helpers import REPO, write_klue_slice

OVERRIDE = REPO / "tests" / "docker" / "compose.loopback.yml"
# Not the base file's project name: a developer's own stack on the same daemon stays untouched.
PROJECT = "klue-loss-sweep-e2e"
MLFLOW = "http://127.0.0.1:5000"
RAY_DASHBOARD = "http://127.0.0.1:8265"
EXPERIMENT = "klue-re-loss-sweep"
SECRETS = (
    "RAY_AUTH_TOKEN",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_SWEEP_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "POSTGRES_PASSWORD",
)


def write_env_file(path: Path, klue_slice: Path) -> dict[str, str]:
    """A fresh env file (mode 0600) with a random value per secret; its values."""
    values = {name: secrets.token_hex(32) for name in SECRETS}
    values |= {
        "MLFLOW_ADMIN_USERNAME": "admin",
        "MLFLOW_SWEEP_USERNAME": "sweep",
        "MLFLOW_SWEEP_EXPERIMENT": EXPERIMENT,
        "POSTGRES_USER": "mlflow",
        "POSTGRES_DB": "mlflow",
        "KLUE_RE_DIR_HOST": str(klue_slice),
        # Small on a 2-core, 24 GB machine; /dev/shm must hold the object store.
        "RAY_SHM_SIZE": "1gb",
        "RAY_OBJECT_STORE_BYTES": str(400 * 1024 * 1024),
    }
    path.touch(mode=0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return values


def write_slice(folder: Path, klue_dir: Path, train: list[dict]) -> Path:
    """400 train and 80 dev records, readable by the containers' users (mounted read-only)."""
    write_klue_slice(folder, klue_dir, train[:400], train[400:480])
    folder.chmod(0o755)
    for file in folder.iterdir():
        file.chmod(0o644)
    return folder


def compose(env_file: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """The Compose CLI of the dev extras on the CPU stack's files and the loopback override,
    with this project name and env file."""
    command = [
        dev_tool("docker-compose"), "-p", PROJECT, "-f", str(COMPOSE), "-f", str(COMPOSE_CPU),
        "-f", str(OVERRIDE),
        "--env-file", str(env_file), *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def docker(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def leftovers() -> dict[str, list[str]]:
    """Containers, volumes and networks that carry this project's compose label."""
    label = f"label=com.docker.compose.project={PROJECT}"
    found = {}
    for kind, listing in (
        ("containers", ["ps", "-a", "--filter", label, "--format", "{{.Names}}"]),
        ("volumes", ["volume", "ls", "--filter", label, "--format", "{{.Name}}"]),
        ("networks", ["network", "ls", "--filter", label, "--format", "{{.Name}}"]),
    ):
        found[kind] = docker(*listing).stdout.split()
    return found


def http(url: str, login: tuple[str, str] | None = None, bearer: str | None = None,
         method: str = "GET", body: dict | None = None) -> tuple[int, str]:  # fmt: skip
    """(status, text) of one request; an HTTP error is an answer, not an exception."""
    headers = {"Content-Type": "application/json"}
    if login:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(login).encode()).decode()
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def listeners() -> list[str]:
    """Local addresses of every listening TCP socket in this network namespace."""
    done = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, timeout=30, check=True)
    return [line.split()[3] for line in done.stdout.splitlines() if line.strip()]


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1; Ray's gRPC servers show IPv4 as mapped IPv6 ([::ffff:127.0.0.1])."""
    host = address.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    return host.startswith("127.") or host == "::1"


class Timer:
    """Wall time of a step, written to DOCKER_TEST_LOGS/timings.json for e2e.sh's summary."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        return self

    def __exit__(self, *_exc: object) -> None:
        folder = Path(os.environ.get("DOCKER_TEST_LOGS", "/tmp/klue-docker-test"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "timings.json"
        timings = json.loads(path.read_text()) if path.exists() else {}
        timings[self.name] = round(time.monotonic() - self.start, 1)
        path.write_text(json.dumps(timings, indent=1))
