"""Suite-wide fixtures: loopback Ray, real KLUE RE files, and a real MLflow server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Every Ray address becomes 127.0.0.1; tests never use the machine's network address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

TRAIN, DEV, RELATIONS = "klue-re-v1.1_train.json", "klue-re-v1.1_dev.json", "relation_list.json"


@pytest.fixture(scope="session", autouse=True)
def _shutdown_ray_after_the_session():
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session")
def klue_dir() -> Path:
    folder = os.environ.get("KLUE_RE_DIR")
    if not folder or not (Path(folder) / TRAIN).is_file():
        pytest.fail(
            "these tests read the real KLUE RE files: set KLUE_RE_DIR to their folder "
            "(.ci/run uses ../shared/data/klue_re)"
        )
    return Path(folder).resolve()


@pytest.fixture(scope="session")
def label_names(klue_dir: Path) -> list[str]:
    from trainable.records import load_label_names

    return load_label_names(klue_dir / RELATIONS)


@pytest.fixture(scope="session")
def raw_train(klue_dir: Path) -> list[dict]:
    return json.loads((klue_dir / TRAIN).read_text(encoding="utf-8"))


def write_klue_slice(
    folder: Path, klue_dir: Path, train: list[dict], dev: list[dict] | None = None
) -> Path:
    """A KLUE-format folder holding the given train/dev records (dev: train's first 50)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RELATIONS).write_bytes((klue_dir / RELATIONS).read_bytes())
    for name, records in ((TRAIN, train), (DEV, dev if dev is not None else train[:50])):
        (folder / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def slice_dir(tmp_path: Path, klue_dir: Path):
    """``slice_dir(train, dev=None)`` writes a KLUE-format folder under tmp_path; its path."""
    return lambda train, dev=None: write_klue_slice(tmp_path / "klue_slice", klue_dir, train, dev)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, local artifact store); its URI."""
    server, uri = start_mlflow_server(tmp_path_factory.mktemp("mlflow_server"))
    try:
        yield uri
    finally:
        stop_mlflow_server(server)


def start_mlflow_server(folder: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``mlflow server`` on 127.0.0.1 keeping its store in ``folder`` (a restart on the
    same folder and port serves the same runs); return it and its URI once it answers."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    with (folder / "server.log").open("a") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return server, uri
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_mlflow_server(server)
                raise RuntimeError((folder / "server.log").read_text()[-3000:]) from None
            time.sleep(0.5)


def stop_mlflow_server(server: subprocess.Popen) -> None:
    """Stop the server and its web-server workers (its own process group)."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
