"""docker/docker-compose.yml: valid for Docker Compose, and the cluster it describes is the one the
README promises (GPU-free head on loopback, scalable GPU workers, token auth, MLflow with basic
auth, shared storage, every secret from docker/.env)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.docker.helpers import (
    COMPOSE,
    DOCKER,
    ENV_EXAMPLE,
    PLACEHOLDER,
    REPO,
    SECRET_NAME,
    dev_tool,
    load_env_file,
    load_yaml,
    project_version,
)

RAY_SERVICES = {"ray-head", "ray-worker"}
# An interpolation compose fills from docker/.env: ${NAME}, ${NAME:?message} or ${NAME?message}.
FROM_ENV_FILE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(:?\?[^}]*)?\}")


def _compose_cli(*args: str, compose_file=COMPOSE) -> subprocess.CompletedProcess:
    # A clean environment: compose prefers the shell's variables to the env file, and this check
    # must see the file's values only.
    clean_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    command = [
        dev_tool("docker-compose"),
        "-f",
        str(compose_file),
        "--project-directory",
        str(DOCKER),
    ]
    return subprocess.run(
        [*command, "--env-file", str(ENV_EXAMPLE), *args],
        capture_output=True, text=True, timeout=60, env=clean_env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


def _services(compose: dict) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return environment


def _command(service: dict) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def _ray_services(compose: dict) -> dict:
    return {name: s for name, s in _services(compose).items() if "ray start" in _command(s)}


# --- validation by Docker Compose itself ----------------------------------------------------------


def test_compose_file_is_valid_for_docker_compose():
    done = _compose_cli("config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_compose_validation_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace("  ray-worker:\n", "  ray-worker:\n    gpu_count: 2\n")
    )
    done = _compose_cli("config", "--quiet", compose_file=broken)
    assert done.returncode != 0
    assert "gpu_count" in done.stderr


def test_secrets_reach_the_containers_from_the_env_file():
    done = _compose_cli("config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    env_file = load_env_file(ENV_EXAMPLE)
    for name in RAY_SERVICES:
        environment = services[name]["environment"]
        assert environment["RAY_AUTH_MODE"] == "token"
        assert environment["RAY_AUTH_TOKEN"] == env_file["RAY_AUTH_TOKEN"], name
        assert environment["MLFLOW_TRACKING_USERNAME"] == env_file["MLFLOW_ADMIN_USERNAME"], name
        assert environment["MLFLOW_TRACKING_PASSWORD"] == env_file["MLFLOW_ADMIN_PASSWORD"], name
    mlflow = services["mlflow"]["environment"]
    assert mlflow["MLFLOW_AUTH_ADMIN_PASSWORD"] == env_file["MLFLOW_ADMIN_PASSWORD"]
    assert mlflow["MLFLOW_FLASK_SERVER_SECRET_KEY"] == env_file["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == env_file["POSTGRES_PASSWORD"]


# --- the cluster the file describes --------------------------------------------------------------


def test_the_ray_services_are_the_head_and_the_workers(compose):
    assert set(_ray_services(compose)) == RAY_SERVICES


def test_head_has_no_gpus_and_its_dashboard_listens_on_loopback_only(compose):
    head = _services(compose)["ray-head"]
    assert "deploy" not in head, "the head reserves no GPUs"
    assert "--num-gpus=0" in _command(head)
    ports = head.get("ports", [])
    assert "127.0.0.1:8265:8265" in ports
    assert all(str(port).startswith("127.0.0.1:") for port in ports), ports


def test_workers_reserve_gpus_and_can_be_scaled(compose):
    worker = _services(compose)["ray-worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert [device["driver"] for device in devices] == ["nvidia"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert devices[0]["count"] == "all" or int(devices[0]["count"]) >= 1
    # `docker compose up --scale ray-worker=N` needs replicas without a fixed name or host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "ray-head:6379" in _command(worker)


@pytest.mark.parametrize("name", sorted(RAY_SERVICES))
def test_every_ray_service_has_shm_token_auth_and_the_shared_volume(compose, name):
    service = _services(compose)[name]
    assert service.get("shm_size"), f"{name}: Ray's object store needs shm_size"
    environment = _environment(service)
    assert environment["RAY_AUTH_MODE"] == "token"
    token = FROM_ENV_FILE.fullmatch(str(environment["RAY_AUTH_TOKEN"]))
    assert token and token["name"] == "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN must come from docker/.env"
    volumes = {volume["target"]: volume for volume in service["volumes"]}
    assert volumes["/shared"]["type"] == "volume"
    assert volumes["/shared"]["source"] in compose["volumes"]
    klue = volumes[environment["KLUE_RE_DIR"]]
    assert klue["type"] == "bind" and klue["read_only"] is True
    assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert environment["SWEEP_STORAGE"].startswith("/shared/")
    assert service["image"] == f"klue-loss-sweep:{project_version()}"


def test_mlflow_runs_basic_auth_behind_allowed_hosts_with_served_artifacts(compose):
    mlflow = _services(compose)["mlflow"]
    command = _command(mlflow)
    assert "--app-name basic-auth" in command
    allowed = re.search(r'--allowed-hosts "?([^"\s]+)', command)
    assert allowed, "MLflow >= 3.5 rejects unknown Host headers without --allowed-hosts"
    hosts = set(allowed[1].split(","))
    assert {"mlflow", "mlflow:5000", "localhost", "localhost:5000", "127.0.0.1:5000"} <= hosts
    assert "--serve-artifacts" in command and "--artifacts-destination" in command
    environment = _environment(mlflow)
    assert environment["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    for key in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"):
        assert FROM_ENV_FILE.fullmatch(environment[key]), f"{key} must come from docker/.env"
    assert all(str(port).startswith("127.0.0.1:") for port in mlflow["ports"])
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_postgres_takes_its_credentials_from_the_env_file_and_has_a_healthcheck(compose):
    postgres = _services(compose)["postgres"]
    environment = _environment(postgres)
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD"):
        assert FROM_ENV_FILE.fullmatch(environment[key]), f"{key} must come from docker/.env"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_no_secret_is_written_in_the_compose_file(compose):
    for name, service in _services(compose).items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert FROM_ENV_FILE.fullmatch(str(value)), f"{name}.{key} is written in the file"
    database_url = _environment(_services(compose)["mlflow"])["MLFLOW_BACKEND_STORE_URI"]
    login = re.match(r"postgresql://(\$\{[^}]+\}):(\$\{[^}]+\})@postgres:", database_url)
    assert login, f"the database user and password must come from docker/.env: {database_url}"
    assert all(FROM_ENV_FILE.fullmatch(part) for part in login.groups())


def test_env_example_holds_placeholders_and_every_required_variable(compose):
    env_file = load_env_file(ENV_EXAMPLE)
    for key, value in env_file.items():
        if SECRET_NAME.search(key):
            assert value == PLACEHOLDER, f"docker/.env.example: {key} must be {PLACEHOLDER!r}"
    required = {match["name"] for match in FROM_ENV_FILE.finditer(COMPOSE.read_text())}
    assert required <= set(env_file), f"missing from .env.example: {required - set(env_file)}"


def test_services_refuse_to_start_with_the_placeholder(compose):
    for name in (*RAY_SERVICES, "mlflow"):
        assert PLACEHOLDER in _command(_services(compose)[name]), name


def test_the_real_env_file_is_git_ignored():
    done = subprocess.run(
        ["git", "check-ignore", "--quiet", "docker/.env"], cwd=REPO, capture_output=True, timeout=30
    )
    assert done.returncode == 0, "docker/.env (the real secrets) must be git-ignored"


def test_the_production_sweep_config_matches_the_compose_services(compose):
    config = (REPO / "configs" / "loss_sweep.yaml").read_text()
    ray_environment = _environment(_services(compose)["ray-head"])
    tracking = re.search(r"\$\{MLFLOW_TRACKING_URI:-([^}]+)\}", config)
    assert tracking and tracking[1] == ray_environment["MLFLOW_TRACKING_URI"]
    storage = re.search(r"\$\{SWEEP_STORAGE:-([^}]+)\}", config)
    assert storage and storage[1] == ray_environment["SWEEP_STORAGE"]
    assert "${KLUE_RE_DIR}" in config
