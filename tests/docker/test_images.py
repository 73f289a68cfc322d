"""The two images as built (tests/docker/build_images.sh, on the stand-in bases): pip's
dependency check passes, the pinned packages are requirements.lock's, ray has no passwordless sudo
left, and each image runs as the user its Dockerfile says. Containers without a network."""

from __future__ import annotations

import json

import pytest

from tests.docker.helpers import lock_pin
from tests.docker.stack import docker

pytestmark = pytest.mark.docker

RAY_IMAGE = "klue-loss-sweep:0.1.0"
MLFLOW_IMAGE = "klue-loss-sweep-mlflow:3.17.2"
PINNED = ("torch", "ray", "mlflow", "transformers", "optuna")
VERSIONS = (
    "import importlib.metadata as m, json; "
    f"print(json.dumps({{p: m.version(p) for p in {PINNED!r}}}))"
)


def _run(image: str, script: str, *args: str):
    """``sh -c script`` in a fresh container of ``image`` (each costs a copy of the image's
    file system under the vfs driver, so every check of an image is one container)."""
    return docker("run", "--rm", "--network", "none", "--entrypoint", "", image,
                  "sh", "-c", script, "sh", *args)  # fmt: skip


def test_the_ray_image_has_the_locked_versions_and_no_sudo():
    done = _run(RAY_IMAGE, 'pip check && python -c "$1" && id -u && id -g && ! sudo -n true',
                VERSIONS)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "No broken requirements found."
    versions = json.loads(lines[1])
    # The CPU build of torch here (TORCH_CUDA=cpu): 2.13.0+cpu is the lock's 2.13.0.
    assert versions.pop("torch") == f"{lock_pin('torch')}+cpu"
    assert versions == {name: lock_pin(name) for name in versions}
    assert lines[2:4] == ["1000", "100"], "user ray, group users"


def test_the_mlflow_image_passes_pip_check_and_runs_as_its_own_user():
    done = _run(MLFLOW_IMAGE, "pip check && id -u && mlflow --version")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == ["10001", f"mlflow, version {lock_pin('mlflow')}"]
