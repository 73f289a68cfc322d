"""The `docker` tests need a Docker daemon, the stand-in and project images, and minutes: they
run only when asked for (`make docker-test`, i.e. `pytest -m docker`) and are deselected from
every other run. Their fixture is the compose stack, up once for all of them."""

from __future__ import annotations

import pytest

from tests.docker.stack import Timer, compose, leftovers, write_env_file, write_slice


def pytest_collection_modifyitems(config, items):
    if "docker" in (config.getoption("markexpr") or ""):
        return
    dropped = [item for item in items if item.get_closest_marker("docker")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("docker")]


@pytest.fixture(scope="session")
def stack(tmp_path_factory, klue_dir, raw_train):
    """The stack up and healthy (compose waits on every health check); yields the env file and
    its values. Taken down with its volumes afterwards, whatever the tests did."""
    folder = tmp_path_factory.mktemp("stack")
    klue_slice = write_slice(folder / "klue_slice", klue_dir, raw_train)
    env_file = folder / ".env"
    values = write_env_file(env_file, klue_slice)
    assert not any(leftovers().values()), f"a previous run left {leftovers()}"
    try:
        with Timer("stack_up_s"):
            up = compose(
                env_file, "up", "--detach", "--no-build", "--wait", "--wait-timeout", "600"
            )
        if up.returncode != 0:
            logs = compose(env_file, "logs", "--no-color", "--tail", "40").stdout
            pytest.fail(f"compose up failed:\n{up.stderr[-3000:]}\n{logs[-6000:]}")
        yield env_file, values
    finally:
        compose(env_file, "down", "--volumes", "--remove-orphans", "--timeout", "30")
