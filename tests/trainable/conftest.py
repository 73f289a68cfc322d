"""Fixtures for the trainable tests (the real KLUE fixtures live in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TRAIN
from trainable.records import Record, load_records


@pytest.fixture(scope="session")
def train_records(klue_dir: Path, label_names: list[str]) -> list[Record]:
    return load_records(klue_dir / TRAIN, label_names)[0]
