"""Helpers for the static checks of docker/: file paths, the project's pins, the linters' binaries."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

DOCKER = REPO / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
COMPOSE_CPU = DOCKER / "docker-compose.cpu.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"
MLFLOW_DOCKERFILE = DOCKER / "mlflow.Dockerfile"
RAY_CLUSTER = DOCKER / "ray-cluster.yaml"
RAYJOB = DOCKER / "rayjob.yaml"
CHECK_SECRETS = DOCKER / "check-secrets.sh"
MLFLOW_BOOTSTRAP = DOCKER / "mlflow_bootstrap.py"
MLFLOW_AUTH_INI = DOCKER / "mlflow-auth.ini"
# Names a value must never be written beside: env files, manifests and images get no secrets.
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET", re.IGNORECASE)
PLACEHOLDER = "change-me"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pyproject_pin(name: str) -> str:
    """The exact version pyproject.toml pins for a direct dependency (extras ignored)."""
    for requirement in _pyproject()["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", requirement)
        if match and match[1].lower() == name.lower():
            return match[3]
    raise AssertionError(f"pyproject.toml pins no {name}")


def lock_pin(name: str) -> str:
    """The version requirements.lock pins for a package (any direct or transitive one)."""
    for line in (REPO / "requirements.lock").read_text().splitlines():
        package, _, version = line.partition("==")
        if package.strip().lower() == name.lower():
            return version.strip()
    raise AssertionError(f"requirements.lock pins no {name}")


def project_version() -> str:
    return _pyproject()["project"]["version"]


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a compose env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=value: {line!r}"
            values[key.strip()] = value.strip()
    return values


def dev_tool(name: str) -> str:
    """Path of a binary that the dev extras install (`make install`) beside this interpreter.

    Missing in CI (CI=true) is a failure: .ci/run installs the dev extras, so the check must run.
    Elsewhere it is a skip that says how to get it.
    """
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; `make install` installs it (pyproject.toml dev extras)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def dev_module(name: str) -> None:
    """Skip (or, in CI, fail) when a module the dev extras install cannot be imported."""
    if importlib.util.find_spec(name) is not None:
        return
    message = f"{name} is not installed; `make install` installs it (pyproject.toml dev extras)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
