"""Suite-wide setup: Ray stays on loopback (DESIGN §6) and is shut down after the session."""

import os

import pytest

# Every Ray address becomes 127.0.0.1; tests never use the machine's network address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session", autouse=True)
def _shutdown_ray_after_the_session():
    yield
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
