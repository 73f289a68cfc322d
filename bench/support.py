"""What the benches and the tests both start: a free loopback port, a real ``mlflow server`` on
127.0.0.1 (as a deployment runs it, not a mock), and the tiny encoder small sweeps train."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

TINY_MODEL = [
    "model.scratch.num_layers=1", "model.scratch.hidden_size=64", "model.scratch.num_heads=2",
    "model.scratch.intermediate_size=128", "model.scratch.vocab_size=2000",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    try:
        wait_until_answers(f"{uri}/health", server, folder / "server.log")
    except RuntimeError:
        stop_mlflow_server(server)
        raise
    return server, uri


def stop_mlflow_server(server: subprocess.Popen) -> None:
    """Stop the server and its web-server workers (its own process group)."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_until_answers(url: str, process: subprocess.Popen, log: Path, timeout: float = 120):
    """Poll ``url`` until it answers HTTP 200; fail with the end of ``log`` if ``process``
    exits first or nothing answers within ``timeout`` seconds."""
    try:
        wait_until(lambda: _answers(url), process, timeout, f"{url} to answer")
    except AssertionError as error:
        raise RuntimeError(f"{error}:\n{log.read_text()[-3000:]}") from None


def wait_until(
    condition: Callable[[], Any], process: subprocess.Popen, timeout: float = 600, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that; fail when
    ``process`` (what should make it true) ends first or ``timeout`` seconds pass. Conditions,
    not sleeps: a loaded machine only makes it slower."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if process.poll() is not None:
            raise AssertionError(f"waiting for {what or condition}: exit code {process.poll()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {what or condition}: timed out after {timeout} s")
        time.sleep(0.3)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False
