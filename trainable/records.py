"""KLUE RE records: load the official JSON or the boostcamp CSV, validate, de-duplicate.

Every record is checked (fields, types, ``sentence[start:end+1] == word``, non-overlapping spans,
known label) before any tokenizing starts. A bad record stops loading with the file, the record
id and the problem, unless ``on_bad_record="skip"``, which drops it and counts it in the
``LoadReport``: data is never dropped silently.
"""

from __future__ import annotations

import ast
import io
import json
import numbers
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from trainable.common.cli import InputError

CSV_COLUMNS = ("id", "sentence", "subject_entity", "object_entity", "label", "source")
ENTITY_KEYS = ("word", "start_idx", "end_idx", "type")


class DataError(InputError, ValueError):
    """Malformed data: the message names the file, the record and the problem."""


@dataclass(frozen=True)
class Entity:
    word: str
    start: int
    end: int  # inclusive, as in KLUE: sentence[start:end + 1] == word
    type: str


@dataclass(frozen=True)
class Record:
    guid: str
    sentence: str
    subject: Entity
    object: Entity
    label: str
    source: str = ""

    @property
    def instance_key(self) -> tuple:
        """What makes two records the same instance (the label aside)."""
        return (self.sentence, self.subject, self.object)


@dataclass
class LoadReport:
    """What loading did to a file: kept, skipped (with reasons) and de-duplicated records."""

    file: str
    kept: int = 0
    skipped: list[str] = field(default_factory=list)
    duplicates_dropped: int = 0
    conflicting_groups: list[list[str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.file}: {self.kept} records"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} malformed skipped (first: {self.skipped[0]})")
        if self.duplicates_dropped:
            parts.append(f"{self.duplicates_dropped} exact duplicates dropped")
        if self.conflicting_groups:
            examples = ", ".join("/".join(group) for group in self.conflicting_groups[:3])
            parts.append(
                f"{len(self.conflicting_groups)} duplicate groups with conflicting labels kept "
                f"({examples})"
            )
        return "; ".join(parts)


def load_label_names(path: Path, content: bytes | None = None) -> list[str]:
    """KLUE's label order from ``relation_list.json`` (id 0 must be ``no_relation``);
    ``content``: the file's bytes, already read (``path`` then only names it in errors)."""
    raw = _read_json(path, content)
    names = raw.get("relations") if isinstance(raw, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise DataError(f'{path}: expected {{"relations": [label names...]}}')
    if names[0] != "no_relation":
        raise DataError(f"{path}: label 0 must be 'no_relation' (KLUE's order), got {names[0]!r}")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: duplicate label names")
    return names


def load_records(
    path: Path,
    label_names: list[str],
    *,
    on_bad_record: str = "error",
    dedupe: bool = True,
    content: bytes | None = None,
) -> tuple[list[Record], LoadReport]:
    """Load ``path`` (``.json``: official KLUE; ``.csv``: boostcamp layout) and validate it;
    ``content``: its bytes, already read and hashed, so what is parsed is what was hashed."""
    raw_records = read_raw_records(path, content)

    report = LoadReport(file=path.name)
    known_labels = set(label_names)
    records = []
    for index, raw in enumerate(raw_records):
        try:
            records.append(_parse_record(raw, known_labels))
        except DataError as problem:
            where = _record_id(raw, index)
            if on_bad_record != "skip":
                raise DataError(f"{path}: record {where}: {problem}") from None
            report.skipped.append(f"{where}: {problem}")
    if not records:
        raise DataError(f"{path}: no usable records (empty split)")
    if dedupe:
        records = _drop_exact_duplicates(records, report)
    report.conflicting_groups = _conflicting_label_groups(records)
    report.kept = len(records)
    return records, report


def read_raw_records(path: Path, content: bytes | None = None) -> list[Any]:
    """The file's records as read, unchecked (``.json``: KLUE; ``.csv``: boostcamp layout);
    ``content``: its bytes, when already read."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path, content)
    return _read_klue_json(path, content)


def parse_input_records(rows: list[Any]) -> list[Record]:
    """Records to predict on (``sentence``, ``subject_entity``, ``object_entity``; a label is
    not needed), checked as training data is. Raises ``DataError`` naming the first bad row."""
    records = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"record #{index}: expected an object, got {type(row).__name__}")
        unlabeled = {"guid": row.get("guid", row.get("id", index)), **row, "label": ""}
        try:
            records.append(_parse_record(unlabeled, {""}))
        except DataError as problem:
            raise DataError(f"record {_record_id(unlabeled, index)}: {problem}") from None
    return records


# ---------------------------------------------------------------- readers
def _read_json(path: Path, content: bytes | None = None) -> Any:
    try:
        if content is not None:
            return json.loads(content.decode("utf-8"))
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None


def _read_klue_json(path: Path, content: bytes | None = None) -> list[Any]:
    data = _read_json(path, content)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def _read_csv(path: Path, content: bytes | None = None) -> list[dict[str, Any]]:
    """The boostcamp CSV: entity columns hold Python dict literals (parsed, never ``eval``'d)."""
    source = io.BytesIO(content) if content is not None else path
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as error:
        raise DataError(f"{path}: not a readable CSV ({error})") from None
    missing = [
        column for column in CSV_COLUMNS if column not in frame.columns and column != "source"
    ]
    if missing:
        raise DataError(f"{path}: missing CSV columns {missing}; expected {list(CSV_COLUMNS)}")
    rows = []
    for row in frame.to_dict("records"):
        rows.append(
            {
                "guid": row["id"],
                "sentence": row["sentence"],
                "subject_entity": _literal_dict(row["subject_entity"]),
                "object_entity": _literal_dict(row["object_entity"]),
                "label": row["label"],
                "source": row.get("source", ""),
            }
        )
    return rows


def _literal_dict(text: str) -> Any:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # reported by _parse_entity as "not a dict"
    return value


# ---------------------------------------------------------------- validation
def _parse_record(raw: Any, known_labels: set[str]) -> Record:
    if not isinstance(raw, dict):
        raise DataError(f"expected an object, got {type(raw).__name__}")
    missing = [
        key
        for key in ("guid", "sentence", "subject_entity", "object_entity", "label")
        if key not in raw
    ]
    if missing:
        raise DataError(f"missing field(s) {', '.join(missing)}")
    sentence, label = raw["sentence"], raw["label"]
    if not isinstance(sentence, str) or not sentence:
        raise DataError("sentence must be a non-empty string")
    if label not in known_labels:
        raise DataError(f"unknown label {label!r} (not in relation_list.json)")
    subject = _parse_entity(raw["subject_entity"], sentence, "subject_entity")
    obj = _parse_entity(raw["object_entity"], sentence, "object_entity")
    if subject.start <= obj.end and obj.start <= subject.end:
        raise DataError(
            f"subject [{subject.start}, {subject.end}] and object [{obj.start}, {obj.end}] overlap"
        )
    return Record(str(raw["guid"]), sentence, subject, obj, label, str(raw.get("source") or ""))


def _parse_entity(raw: Any, sentence: str, name: str) -> Entity:
    if not isinstance(raw, dict):
        raise DataError(f"{name} is not a dict: {str(raw)[:60]!r}")
    missing = [key for key in ENTITY_KEYS if key not in raw]
    if missing:
        raise DataError(f"{name} lacks {', '.join(missing)}")
    word, start, end, kind = (raw[key] for key in ENTITY_KEYS)
    start, end = _as_index(start, name, "start_idx"), _as_index(end, name, "end_idx")
    if not isinstance(word, str) or not word or not isinstance(kind, str) or not kind:
        raise DataError(f"{name}: word and type must be non-empty strings")
    if not 0 <= start <= end < len(sentence):
        raise DataError(
            f"{name}: span [{start}, {end}] outside the sentence ({len(sentence)} chars)"
        )
    if sentence[start : end + 1] != word:
        raise DataError(
            f"{name}: span mismatch, sentence[{start}:{end + 1}] is "
            f"{sentence[start : end + 1]!r} but word is {word!r}"
        )
    return Entity(word, start, end, kind)


def _as_index(value: Any, name: str, key: str) -> int:
    if isinstance(value, bool):
        raise DataError(f"{name}.{key} must be an integer, got {value!r}")
    if isinstance(value, numbers.Integral):  # NumPy's too: MLflow's input schema gives those
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise DataError(f"{name}.{key} must be an integer, got {value!r}")


def _record_id(raw: Any, index: int) -> str:
    guid = raw.get("guid") if isinstance(raw, dict) else None
    return f"{guid} (#{index})" if guid is not None else f"#{index}"


# ---------------------------------------------------------------- duplicates
def _drop_exact_duplicates(records: list[Record], report: LoadReport) -> list[Record]:
    seen: set[tuple] = set()
    kept = []
    for record in records:
        key = (*record.instance_key, record.label)
        if key in seen:
            report.duplicates_dropped += 1
            continue
        seen.add(key)
        kept.append(record)
    return kept


def _conflicting_label_groups(records: list[Record]) -> list[list[str]]:
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.instance_key].append(record)
    return [
        [r.guid for r in group]
        for group in groups.values()
        if len(Counter(r.label for r in group)) > 1
    ]
