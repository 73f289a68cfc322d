"""docker/docker-compose.cpu.yml, the stack for machines without GPUs, and the GPU worker's
refusal to join without one. `make docker-test` runs the CPU stack for real; these checks cover
what that run cannot see (the GPU file's own worker command) in seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docker.helpers import COMPOSE, COMPOSE_CPU, DOCKER, ENV_EXAMPLE, dev_tool


def _resolved(*files: Path) -> dict:
    """The services as Docker Compose merges ``files`` (placeholders from .env.example)."""
    command = [dev_tool("docker-compose"), "--project-directory", str(DOCKER)]
    for file in files:
        command += ["-f", str(file)]
    done = subprocess.run(
        [*command, "--env-file", str(ENV_EXAMPLE), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["services"]


def test_the_cpu_stack_builds_a_cpu_image_of_its_own_and_reserves_no_gpu():
    services, base = _resolved(COMPOSE, COMPOSE_CPU), _resolved(COMPOSE)
    gpu_image = base["ray-head"]["image"]
    for name in ("ray-head", "ray-worker"):
        service = services[name]
        assert service["image"] == f"{gpu_image}-cpu", "the CUDA image keeps its tag"
        assert service["build"]["args"] == {"TORCH_CUDA": "cpu"}
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
    worker = services["ray-worker"]
    assert "deploy" not in worker, "no GPU reservation"
    assert worker["command"][:4] == ["check-secrets", "RAY_AUTH_TOKEN", "MLFLOW_TRACKING_PASSWORD",
                                     "--"]  # fmt: skip
    assert "--num-gpus=0" in worker["command"] and "--address=ray-head:6379" in worker["command"]
    # Everything else (secrets, volumes, hardening, MLflow, PostgreSQL) is the base file's.
    assert services["mlflow"] == base["mlflow"] and services["postgres"] == base["postgres"]
    for key in ("environment", "volumes", "security_opt", "cap_drop", "networks", "shm_size"):
        assert worker[key] == base["ray-worker"][key], key


def _worker_shell(tmp_path: Path, tools: dict[str, str]) -> subprocess.CompletedProcess:
    """The GPU file's worker command, run by bash with ``tools`` (name: script) first on PATH."""
    script = _resolved(COMPOSE)["ray-worker"]["command"][-1].replace("$$", "$")
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "grep").symlink_to(shutil.which("grep"))  # only these: no machine's nvidia-smi
    for name, body in tools.items():
        (folder / name).write_text(f"#!{shutil.which('sh')}\n{body}\n")
        (folder / name).chmod(0o755)
    return subprocess.run(
        [shutil.which("bash"), "-c", script], capture_output=True, text=True, timeout=30,
        env={"PATH": str(folder)},
    )  # fmt: skip


def test_the_gpu_worker_offers_every_gpu_nvidia_smi_lists(tmp_path):
    listing = 'echo "GPU 0: NVIDIA H200 (UUID: GPU-a)"; echo "GPU 1: NVIDIA H200 (UUID: GPU-b)"'
    done = _worker_shell(tmp_path, {"nvidia-smi": listing, "ray": 'echo ray "$@"'})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ray", "start", "--address=ray-head:6379", "--num-gpus=2",
                                   "--block"]  # fmt: skip


@pytest.mark.parametrize("nvidia_smi", [None, "echo 'No devices were found'; exit 6"],
                         ids=["no-nvidia-smi", "no-device"])  # fmt: skip
def test_the_gpu_worker_refuses_to_join_without_a_gpu(tmp_path, nvidia_smi):
    """Joining with 0 GPUs would leave every GPU trial pending without a word."""
    tools = {"ray": "echo joined; exit 0"} | ({"nvidia-smi": nvidia_smi} if nvidia_smi else {})
    done = _worker_shell(tmp_path, tools)
    assert done.returncode == 1 and "joined" not in done.stdout
    assert "no GPU visible to nvidia-smi" in done.stderr
    assert "docker/docker-compose.cpu.yml" in done.stderr
