"""Without ``ray.address`` a run starts its own local Ray, whatever cluster the machine last
started: the chaos bench found sweeps joining the 2-node cluster another process had started
(``ray.cluster_utils``) and losing their trials with its nodes."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import REPO

START = """
import ray
from search import ray_tune
ray_tune.start_ray(num_cpus=1)
print("nodes", len(ray.nodes()))
ray.shutdown()
"""


def test_a_run_without_an_address_starts_its_own_ray_not_the_machines_last_cluster():
    """Ray reads the last cluster's address from ``$RAY_TMPDIR/ray/ray_current_cluster``; here
    it names a cluster that does not answer, which ``ray.init()`` would try to join and fail.
    (A short folder: Ray's socket paths under it must stay within 107 bytes.)"""
    folder = Path(tempfile.mkdtemp(prefix="ray-local-", dir="/tmp"))
    try:
        (folder / "ray").mkdir()
        (folder / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
        environ = {**os.environ, "RAY_TMPDIR": str(folder), "PYTHONPATH": str(REPO)}
        environ.pop("RAY_ADDRESS", None)
        done = subprocess.run(
            [sys.executable, "-c", START], cwd=REPO, env=environ, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nodes 1" in done.stdout


ADDRESSES = """
import ray
from search import ray_tune
ray_tune.start_ray(num_cpus=1)
context = ray.get_runtime_context()
print("gcs", context.gcs_address)
print("node", ray.util.get_node_ip_address())
ray.shutdown()
"""


def test_a_local_run_keeps_ray_on_loopback_without_the_makefiles_environment():
    """``python -m search.run`` typed in an activated venv has no
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` (the Makefile and the tests set it): its Ray bound to
    the machine's network address."""
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS"):
        environ.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", ADDRESSES], cwd=REPO, env=environ, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gcs 127.0.0.1:" in done.stdout and "node 127.0.0.1\n" in done.stdout, done.stdout
