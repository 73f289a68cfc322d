"""Suite-wide fixtures: loopback Ray, real KLUE RE files, and a real MLflow server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from bench.support import start_mlflow_server, stop_mlflow_server
from tests.helpers import RELATIONS, TRAIN, write_klue_slice

# Every Ray address becomes 127.0.0.1; tests never use the machine's network address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session", autouse=True)
def _shutdown_ray_after_the_session():
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session")
def klue_dir() -> Path:
    folder = os.environ.get("KLUE_RE_DIR")
    if not folder or not (Path(folder) / TRAIN).is_file():
        pytest.fail(
            "these tests read the real KLUE RE files: set KLUE_RE_DIR to their folder "
            "(.ci/run uses ../shared/data/klue_re)"
        )
    return Path(folder).resolve()


@pytest.fixture(scope="session")
def label_names(klue_dir: Path) -> list[str]:
    from trainable.records import load_label_names

    return load_label_names(klue_dir / RELATIONS)


@pytest.fixture(scope="session")
def raw_train(klue_dir: Path) -> list[dict]:
    return json.loads((klue_dir / TRAIN).read_text(encoding="utf-8"))


@pytest.fixture
def slice_dir(tmp_path: Path, klue_dir: Path):
    """``slice_dir(train, dev=None)`` writes a KLUE-format folder under tmp_path; its path."""
    return lambda train, dev=None: write_klue_slice(tmp_path / "klue_slice", klue_dir, train, dev)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, local artifact store); its URI."""
    server, uri = start_mlflow_server(tmp_path_factory.mktemp("mlflow_server"))
    try:
        yield uri
    finally:
        stop_mlflow_server(server)
