"""Ray's local token (``~/.ray/auth_token``) lets whoever reads it run code in our Ray, whose
workers hold MLflow's credentials: started our way, only this user can read it."""

import os
import stat
import subprocess
import sys

from tests.helpers import REPO

START = """
import ray
from search import ray_tune
ray_tune.start_ray(num_cpus=1)
ray.shutdown()
"""


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ray_token_is_private_to_this_user(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    environ = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    environ.pop("RAY_AUTH_MODE", None)
    environ.pop("RAY_AUTH_TOKEN", None)
    done = subprocess.run(
        ["bash", "-c", f"umask 022 && exec {sys.executable} -c \"$0\"", START],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    token = home / ".ray" / "auth_token"
    assert mode(token.parent) == 0o700 and mode(token) == 0o600
    assert len(token.read_text().strip()) >= 32
