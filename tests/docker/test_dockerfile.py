"""docker/Dockerfile and docker/mlflow.Dockerfile: hadolint-clean, the project's pins, non-root (no
sudo for ray; MLflow as its own user owning its volumes), the secret check in both images, no
secrets, and build contexts that send only what the images copy (never the KLUE data)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.docker.helpers import (
    DOCKER,
    DOCKERFILE,
    MLFLOW_BOOTSTRAP,
    MLFLOW_DOCKERFILE,
    REPO,
    SECRET_NAME,
    dev_tool,
    lock_pin,
    pyproject_pin,
)

HADOLINT_CONFIG = DOCKER / ".hadolint.yaml"


def _instructions(path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _arguments(path, keyword: str) -> list[str]:
    return [arguments for key, arguments in _instructions(path) if key == keyword]


def _build_args(path) -> dict[str, str]:
    return dict(argument.split("=", 1) for argument in _arguments(path, "ARG"))


def _copy_sources(path) -> set[str]:
    sources = set()
    for arguments in _arguments(path, "COPY"):
        words = [word for word in arguments.split() if not word.startswith("--")]
        sources.update(word.rstrip("/") for word in words[:-1])
    return sources


def _hadolint(*paths) -> subprocess.CompletedProcess:
    command = [
        dev_tool("hadolint"),
        "--no-color",
        "--config",
        str(HADOLINT_CONFIG),
        *map(str, paths),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


# --- hadolint -----------------------------------------------------------------------------------


def test_dockerfiles_pass_hadolint():
    done = _hadolint(DOCKERFILE, MLFLOW_DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_rejects_an_unpinned_install(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text() + "RUN pip install --no-cache-dir requests\n")
    done = _hadolint(broken)
    assert done.returncode != 0
    assert "DL3013" in done.stdout


def test_hadolint_settings_ignore_no_rule():
    assert "ignored" not in HADOLINT_CONFIG.read_text()


# --- the project's pins -------------------------------------------------------------------------


def test_ray_base_image_is_the_ray_pin_on_python_311():
    (base,) = _arguments(DOCKERFILE, "FROM")
    match = re.fullmatch(r"rayproject/ray:(?P<ray>[\d.]+)-py(?P<python>\d+)-gpu", base)
    assert match, f"unexpected base image {base!r}"
    assert match["ray"] == pyproject_pin("ray") == lock_pin("ray")
    assert f"ray.__version__ == '{match['ray']}'" in DOCKERFILE.read_text(), "the build's check"
    assert match["python"] == "311"  # pyproject.toml: requires-python ">=3.11,<3.12"


def test_torch_is_the_locked_version_from_the_cuda_index():
    build_args = _build_args(DOCKERFILE)
    assert build_args["TORCH_VERSION"] == pyproject_pin("torch") == lock_pin("torch")
    assert re.fullmatch(r"cu\d{3}", build_args["TORCH_CUDA"])
    # The index is a build argument (tests/docker builds from a local copy), PyTorch's by default.
    assert build_args["TORCH_INDEX"] == "https://download.pytorch.org/whl"
    installs = " ".join(_arguments(DOCKERFILE, "RUN"))
    assert '--index-url "${TORCH_INDEX}/${TORCH_CUDA}"' in installs
    assert '"torch==${TORCH_VERSION}+${TORCH_CUDA}"' in installs


def test_everything_else_installs_with_the_lock_as_constraints():
    installs = [run for run in _arguments(DOCKERFILE, "RUN") if "pip install" in run]
    assert any("-c requirements.lock ." in run for run in installs)
    assert "requirements.lock" in _copy_sources(DOCKERFILE)


def test_mlflow_image_is_the_mlflow_pin_with_pinned_extras():
    (base,) = _arguments(MLFLOW_DOCKERFILE, "FROM")
    assert base == f"ghcr.io/mlflow/mlflow:v{pyproject_pin('mlflow')}"
    (install,) = [run for run in _arguments(MLFLOW_DOCKERFILE, "RUN") if "pip install" in run]
    packages = [word.strip('"') for word in install.split()[2:] if not word.startswith("-")]
    assert packages, install
    assert all("==" in package for package in packages), packages
    assert f"mlflow[auth]=={pyproject_pin('mlflow')}" in packages


# --- non-root, no secrets -----------------------------------------------------------------------


def test_the_image_runs_as_the_non_root_ray_user():
    users = _arguments(DOCKERFILE, "USER")
    assert users and users[-1] not in ("0", "root"), users
    assert users[-1] == "1000"  # the base image's ray user


def _runs_as(path, user: str) -> list[str]:
    """The RUN arguments executed while ``user`` is the current USER."""
    current, runs = None, []
    for keyword, arguments in _instructions(path):
        if keyword == "USER":
            current = arguments
        elif keyword == "RUN" and current == user:
            runs.append(arguments)
    return runs


def test_the_ray_user_loses_its_passwordless_sudo():
    as_root = " ".join(_runs_as(DOCKERFILE, "0"))
    # The base image's grant: a line in /etc/sudoers and the sudo group.
    assert "sed -i '/^ray[[:space:]]/d' /etc/sudoers" in as_root
    assert "gpasswd --delete ray sudo" in as_root
    assert "rm -f /etc/sudoers.d/*" in as_root
    # The build itself fails if any password-free rule is left.
    assert "NOPASSWD' /etc/sudoers /etc/sudoers.d; then exit 1" in as_root


def test_the_ray_users_volume_mount_points_are_its_own():
    # docker-compose.yml's named volumes; a new one copies its mount point's owner.
    as_root = " ".join(_runs_as(DOCKERFILE, "0"))
    assert "mkdir -p /shared/ray_results /data/klue_re /home/ray/.cache/huggingface" in as_root
    assert "chown -R 1000:100 /shared /home/ray/.cache" in as_root


def _uid(user: str) -> int:
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user!r}: numeric, for runAsNonRoot checks"
    return int(user.split(":")[0])


def test_mlflow_runs_as_its_own_non_root_user_owning_its_volumes():
    users = _arguments(MLFLOW_DOCKERFILE, "USER")
    assert users, "the base image runs as root"
    uid = _uid(users[-1])
    assert uid not in (0, 1000), "not root, and not the Ray image's user either"
    setup = " ".join(_arguments(MLFLOW_DOCKERFILE, "RUN"))
    assert f"--uid {uid}" in setup
    # docker-compose.yml's mount points: a new named volume copies their owner.
    assert "chown mlflow:mlflow /mlflow/artifacts /mlflow-auth" in setup
    assert "chmod 0700 /mlflow-auth" in setup


def test_mlflow_image_flask_wtf_is_the_locked_one():
    (install,) = [run for run in _arguments(MLFLOW_DOCKERFILE, "RUN") if "pip install" in run]
    assert f"Flask-WTF=={lock_pin('Flask-WTF')}" in install
    assert f"WTForms=={lock_pin('WTForms')}" in install


@pytest.mark.parametrize("path", [DOCKERFILE, MLFLOW_DOCKERFILE], ids=lambda p: p.name)
def test_the_image_ships_the_secret_check(path):
    copies = [arguments.split() for arguments in _arguments(path, "COPY")]
    check = [words for words in copies if words[-1] == "/usr/local/bin/check-secrets"]
    assert check, f"{path.name} does not install check-secrets"
    assert "--chmod=0755" in check[0]
    assert check[0][-2].endswith("check-secrets.sh")


def _environment(path) -> dict[str, str]:
    words = " ".join(_arguments(path, "ENV")).split()
    return dict(word.split("=", 1) for word in words)


@pytest.mark.parametrize("path", [DOCKERFILE, MLFLOW_DOCKERFILE], ids=lambda p: p.name)
def test_no_image_reports_usage_to_a_vendor(path):
    """A cluster's traffic is its own: MLflow's telemetry is off in both images, Ray's usage
    stats in the Ray image."""
    environment = _environment(path)
    assert environment.get("MLFLOW_DISABLE_TELEMETRY") == "true"
    if path == DOCKERFILE:
        assert environment.get("RAY_USAGE_STATS_ENABLED") == "0"


def test_reused_trial_processes_wait_for_the_previous_trial_as_local_runs_do():
    from search.ray_tune import REUSE_ENV

    environment = _environment(DOCKERFILE)
    assert {key: environment.get(key) for key in REUSE_ENV} == REUSE_ENV


def test_the_mlflow_image_ships_the_bootstrap():
    copies = [arguments.split() for arguments in _arguments(MLFLOW_DOCKERFILE, "COPY")]
    assert ["--chmod=0755", "mlflow_bootstrap.py", "/usr/local/bin/mlflow-bootstrap"] in copies
    assert MLFLOW_BOOTSTRAP.read_text().startswith("#!/usr/bin/env python3\n")


@pytest.mark.parametrize("path", [DOCKERFILE, MLFLOW_DOCKERFILE], ids=lambda p: p.name)
def test_no_secret_is_baked_into_an_image(path):
    for keyword in ("ARG", "ENV"):
        for arguments in _arguments(path, keyword):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split()[0]]
            assert not [name for name in names if SECRET_NAME.search(name)], arguments


# --- build contexts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dockerfile", "ignore_file"),
    [(DOCKERFILE, REPO / ".dockerignore"), (MLFLOW_DOCKERFILE, DOCKER / ".dockerignore")],
    ids=["Dockerfile", "mlflow.Dockerfile"],
)
def test_build_context_sends_exactly_what_the_image_copies(dockerfile, ignore_file):
    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", f"{ignore_file}: start from excluding everything"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert allowed == _copy_sources(dockerfile)


def test_no_klue_data_or_env_file_is_copied():
    for source in _copy_sources(DOCKERFILE) | _copy_sources(MLFLOW_DOCKERFILE):
        assert not re.search(r"klue|data|\.json$|\.env", source, re.IGNORECASE), source
