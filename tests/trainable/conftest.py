"""Real KLUE RE data for the trainable tests: the official files, read from KLUE_RE_DIR."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from trainable.records import Record, load_label_names, load_records

TRAIN, DEV, RELATIONS = "klue-re-v1.1_train.json", "klue-re-v1.1_dev.json", "relation_list.json"


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
    return load_label_names(klue_dir / RELATIONS)


@pytest.fixture(scope="session")
def raw_train(klue_dir: Path) -> list[dict]:
    return json.loads((klue_dir / TRAIN).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def train_records(klue_dir: Path, label_names: list[str]) -> list[Record]:
    return load_records(klue_dir / TRAIN, label_names)[0]


@pytest.fixture
def slice_dir(tmp_path: Path, klue_dir: Path, raw_train: list[dict]):
    """Write a KLUE-format folder holding the given train/dev records; returns its path."""

    def write(train: list[dict], dev: list[dict] | None = None) -> Path:
        folder = tmp_path / "klue_slice"
        folder.mkdir(exist_ok=True)
        (folder / RELATIONS).write_bytes((klue_dir / RELATIONS).read_bytes())
        for name, records in ((TRAIN, train), (DEV, dev if dev is not None else train[:50])):
            (folder / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        return folder

    return write
