"""docker/docker-compose.yml: valid for Docker Compose, and the cluster it describes is the one
docs/cluster.md promises (GPU-free head on loopback, scalable GPU workers, token auth, MLflow with
basic auth, shared storage, every secret from docker/.env), hardened: each secret reaches only the
containers that need it (the MLflow admin only MLflow), every secret is checked before a
container starts, no service has capabilities or can gain privileges, and PostgreSQL sits on an
internal network the Ray containers are not on."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import subprocess

import pytest

from tests.docker.helpers import (
    CHECK_SECRETS,
    COMPOSE,
    DOCKER,
    ENV_EXAMPLE,
    MLFLOW_AUTH_INI,
    MLFLOW_BOOTSTRAP,
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


def _compose_cli(
    *args: str, compose_file=COMPOSE, env_file=ENV_EXAMPLE
) -> subprocess.CompletedProcess:
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
        [*command, "--env-file", str(env_file), *args],
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
        assert environment["MLFLOW_TRACKING_USERNAME"] == env_file["MLFLOW_SWEEP_USERNAME"], name
        assert environment["MLFLOW_TRACKING_PASSWORD"] == env_file["MLFLOW_SWEEP_PASSWORD"], name
    mlflow = services["mlflow"]["environment"]
    assert mlflow["MLFLOW_AUTH_ADMIN_PASSWORD"] == env_file["MLFLOW_ADMIN_PASSWORD"]
    assert mlflow["MLFLOW_SWEEP_PASSWORD"] == env_file["MLFLOW_SWEEP_PASSWORD"]
    assert mlflow["MLFLOW_FLASK_SERVER_SECRET_KEY"] == env_file["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == env_file["POSTGRES_PASSWORD"]


# Which containers may hold each value of docker/.env: least privilege, checked on the file
# Docker Compose resolves.
HOLDERS = {
    "RAY_AUTH_TOKEN": {"ray-head", "ray-worker"},
    "MLFLOW_ADMIN_USERNAME": {"mlflow"},
    "MLFLOW_ADMIN_PASSWORD": {"mlflow"},
    "MLFLOW_SWEEP_PASSWORD": {"ray-head", "ray-worker", "mlflow"},
    "MLFLOW_FLASK_SERVER_SECRET_KEY": {"mlflow"},
    "POSTGRES_PASSWORD": {"mlflow", "postgres"},
}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The compose file as Docker Compose resolves it with a distinct value per variable."""
    env_file = tmp_path_factory.mktemp("env") / ".env"
    values = {key: f"{key.lower()}-{index:02d}-" + "v" * 32 for index, key in
              enumerate(load_env_file(ENV_EXAMPLE))}  # fmt: skip
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    done = _compose_cli("config", "--format", "json", env_file=env_file)
    assert done.returncode == 0, done.stderr
    return {"values": values, "services": json.loads(done.stdout)["services"]}


def test_each_secret_reaches_only_the_containers_that_need_it(resolved):
    assert set(HOLDERS) >= {key for key in resolved["values"] if SECRET_NAME.search(key)}
    for key, holders in HOLDERS.items():
        value = resolved["values"][key]
        holding = {
            name for name, service in resolved["services"].items() if value in json.dumps(service)
        }
        assert holding == holders, f"{key} reaches {sorted(holding)}, not {sorted(holders)}"


def test_no_ray_container_mentions_the_mlflow_admin(compose):
    for name in RAY_SERVICES:
        environment = _environment(_services(compose)[name])
        text = json.dumps(environment) + _command(_services(compose)[name])
        assert "ADMIN" not in text, f"{name}: {environment}"


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
    # psycopg2, the driver docker/mlflow.Dockerfile installs (a bare postgresql:// is psycopg 3
    # under SQLAlchemy 2.1: the server failed to start with it in make docker-test).
    assert environment["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
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
    login = re.match(r"postgresql\+psycopg2://(\$\{[^}]+\}):(\$\{[^}]+\})@postgres:", database_url)
    assert login, f"the database user and password must come from docker/.env: {database_url}"
    assert all(FROM_ENV_FILE.fullmatch(part) for part in login.groups())


def test_env_example_holds_placeholders_and_every_required_variable(compose):
    env_file = load_env_file(ENV_EXAMPLE)
    for key, value in env_file.items():
        if SECRET_NAME.search(key):
            assert value == PLACEHOLDER, f"docker/.env.example: {key} must be {PLACEHOLDER!r}"
    required = {match["name"] for match in FROM_ENV_FILE.finditer(COMPOSE.read_text())}
    assert required <= set(env_file), f"missing from .env.example: {required - set(env_file)}"


def _checked_secrets(service: dict) -> list[str]:
    """The variables a service's check-secrets call names (entrypoint or command)."""
    for part in ("entrypoint", "command"):
        words = service.get(part) or []
        assert not isinstance(words, str), "exec form, so the check is the container's process"
        for index, word in enumerate(words):
            if word.endswith("check-secrets"):
                rest = words[index + 1 :]
                assert "--" in rest, "check-secrets NAME... -- COMMAND: the command runs after"
                return rest[: rest.index("--")]
    return []


def test_every_secret_is_checked_before_its_container_starts(compose):
    env_file_secrets = {key for key in load_env_file(ENV_EXAMPLE) if SECRET_NAME.search(key)}
    checked_from_env_file = set()
    for name, service in _services(compose).items():
        checked = _checked_secrets(service)
        secrets = {key for key in _environment(service) if SECRET_NAME.search(key)}
        assert secrets, f"{name} gets no secret?"
        assert secrets <= set(checked), f"{name}: {sorted(secrets - set(checked))} unchecked"
        for key in checked:
            source = FROM_ENV_FILE.fullmatch(str(_environment(service)[key]))
            checked_from_env_file.add(source["name"])
    assert env_file_secrets <= checked_from_env_file, env_file_secrets - checked_from_env_file


def test_the_check_comes_from_the_repository_in_every_container(compose):
    services = _services(compose)
    for name in (*RAY_SERVICES, "mlflow"):  # images built here ship it (test_dockerfile.py)
        assert services[name]["command"][0] == "check-secrets", name
    postgres = services["postgres"]  # an upstream image: the script is mounted in
    mounts = {volume["target"]: volume for volume in postgres["volumes"]}
    script = mounts["/usr/local/bin/check-secrets"]
    assert script["type"] == "bind" and script["read_only"] is True
    assert (DOCKER / script["source"]).resolve() == CHECK_SECRETS
    assert postgres["entrypoint"][:2] == ["sh", "/usr/local/bin/check-secrets"]
    assert postgres["entrypoint"][-1] == "docker-entrypoint.sh", "then the image's own entrypoint"


# --- hardening ------------------------------------------------------------------------------------


def test_every_service_drops_all_capabilities_and_cannot_gain_privileges(resolved):
    for name, service in resolved["services"].items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("cap_drop") == ["ALL"], name
        assert not service.get("cap_add"), f"{name}: add back a capability only with a reason"
        assert not service.get("privileged"), name


def test_postgres_is_only_on_an_internal_network_the_ray_containers_do_not_join(compose):
    networks = compose["networks"]
    services = _services(compose)
    postgres = set(services["postgres"]["networks"])
    assert postgres and all((networks[net] or {}).get("internal") is True for net in postgres)
    assert "ports" not in services["postgres"]
    for name in RAY_SERVICES:
        assert not set(services[name]["networks"]) & postgres, f"{name} can reach PostgreSQL"
        # ... but reaches MLflow, which is on both sides.
        assert set(services[name]["networks"]) & set(services["mlflow"]["networks"]), name
    assert postgres <= set(services["mlflow"]["networks"])


def test_postgres_runs_as_its_own_user_from_the_start(compose):
    user = str(_services(compose)["postgres"]["user"])
    uid = user.split(":")[0]
    assert uid.isdigit() and uid != "0", user


def test_mlflow_does_not_run_as_root(compose):
    # The image's USER is non-root (test_dockerfile.py); compose must not override it.
    assert _services(compose)["mlflow"].get("user") in (None, ""), "keep the image's user"


# --- MLflow: sweep user, auth store ---------------------------------------------------------------


def test_mlflow_starts_through_the_bootstrap_and_is_healthy_once_the_sweep_user_works(compose):
    mlflow = _services(compose)["mlflow"]
    command = mlflow["command"]
    serve = command.index("mlflow-bootstrap")
    assert command[serve : serve + 2] == ["mlflow-bootstrap", "serve"]
    assert command[command.index("--", serve) + 1 : command.index("--", serve) + 3] == [
        "mlflow",
        "server",
    ]
    assert mlflow["healthcheck"]["test"][1:3] == ["mlflow-bootstrap", "check"]
    environment = _environment(mlflow)
    for key in ("MLFLOW_SWEEP_USERNAME", "MLFLOW_SWEEP_PASSWORD"):
        assert FROM_ENV_FILE.fullmatch(environment[key]), f"{key} must come from docker/.env"


def test_the_sweep_experiment_is_the_sweeps_tracking_experiment(compose):
    experiment = _environment(_services(compose)["mlflow"])["MLFLOW_SWEEP_EXPERIMENT"]
    default = re.fullmatch(r"\$\{MLFLOW_SWEEP_EXPERIMENT:-([^}]+)\}", experiment)
    config = load_yaml(REPO / "configs" / "loss_sweep.yaml")
    assert default and default[1] == config["tracking"]["experiment"]
    assert load_env_file(ENV_EXAMPLE)["MLFLOW_SWEEP_EXPERIMENT"] == default[1]
    spec = importlib.util.spec_from_file_location("mlflow_bootstrap", MLFLOW_BOOTSTRAP)
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    assert default[1] == bootstrap.DEFAULT_EXPERIMENT


def test_nothing_is_granted_by_default_and_the_auth_store_is_apart_from_the_artifacts(compose):
    settings = configparser.ConfigParser()
    settings.read(MLFLOW_AUTH_INI)
    assert settings["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    auth_db = settings["mlflow"]["database_uri"].removeprefix("sqlite:///")
    assert auth_db.startswith("/"), "an absolute path inside the container"
    mlflow = _services(compose)["mlflow"]
    command = mlflow["command"]
    artifacts = command[command.index("--artifacts-destination") + 1]

    def volume_of(path: str) -> dict:
        mounts = [v for v in mlflow["volumes"] if (path + "/").startswith(v["target"] + "/")]
        assert mounts, f"{path} is on no volume: it would not survive the container"
        return max(mounts, key=lambda volume: len(volume["target"]))

    auth_volume, artifacts_volume = volume_of(auth_db), volume_of(artifacts)
    assert auth_volume["type"] == artifacts_volume["type"] == "volume"
    assert auth_volume["source"] != artifacts_volume["source"]
    assert not auth_db.startswith(artifacts_volume["target"] + "/")


def test_the_env_file_says_how_to_make_each_secret_and_to_keep_it_private():
    text = ENV_EXAMPLE.read_text()
    assert "umask 077" in text and "0600" in text
    blocks = re.split(r"\n\s*\n", text)
    for key in load_env_file(ENV_EXAMPLE):
        if SECRET_NAME.search(key):
            (block,) = [b for b in blocks if re.search(rf"^{key}=", b, re.MULTILINE)]
            assert "openssl rand -hex 32" in block, f"{key}: say how to generate it"


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
    assert "${KLUE_RE_DIR:-}" in config
