"""The two images as built (tests/docker/build_images.sh, on the stand-in bases): pip's
dependency check passes, the pinned packages are requirements.lock's, ray has no passwordless sudo
left, and each image runs as the user its Dockerfile says. Checked inside the stack's running
containers: under the vfs storage driver every new container costs a copy of its image's file
system (about a minute for the Ray image here), and the running ones are the images as deployed."""

from __future__ import annotations

import json

import pytest

from tests.docker.helpers import lock_pin
from tests.docker.stack import compose

pytestmark = pytest.mark.docker

PINNED = ("torch", "ray", "mlflow", "transformers", "optuna")
VERSIONS = (
    "import importlib.metadata as m, json; "
    f"print(json.dumps({{p: m.version(p) for p in {PINNED!r}}}))"
)


def _exec(env_file, service: str, script: str, *args: str):
    """``sh -c script`` in the stack's running container of ``service``, as its image's user."""
    return compose(env_file, "exec", "-T", service, "sh", "-c", script, "sh", *args, timeout=300)


def test_the_ray_image_has_the_locked_versions_and_no_sudo(stack):
    env_file, _values = stack
    done = _exec(env_file, "ray-worker", 'pip check && python -c "$1" && id -u && id -g && ! sudo -n true',
                VERSIONS)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "No broken requirements found."
    versions = json.loads(lines[1])
    # The CPU build of torch here (TORCH_CUDA=cpu): 2.13.0+cpu is the lock's 2.13.0.
    assert versions.pop("torch") == f"{lock_pin('torch')}+cpu"
    assert versions == {name: lock_pin(name) for name in versions}
    assert lines[2:4] == ["1000", "100"], "user ray, group users"


def test_the_mlflow_image_passes_pip_check_and_runs_as_its_own_user(stack):
    env_file, _values = stack
    done = _exec(env_file, "mlflow", "pip check && id -u && mlflow --version")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == ["10001", f"mlflow, version {lock_pin('mlflow')}"]
