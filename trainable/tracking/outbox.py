"""What a trial's MLflow run is made of, as typed records, and the outbox file that keeps them
while the tracking server does not answer.

A record is one of ``Started``, ``Tags``, ``Text``, ``Steps``, ``Epoch`` or ``RunEnd``; the outbox
file holds the run's identity (``RunSpec``), the run id once known and the records not yet sent, in
order. It is JSON (each record tagged with its class name) and replaced atomically, so a kill
mid-write never leaves half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from trainable.common.redact import redact_tree
from trainable.common.tracking.lifecycle import RunEnd

MAX_BATCH_METRICS = 1000  # what one MLflow log_batch call takes


@dataclass(frozen=True)
class Started:
    """The run (re)starts; ``tags`` are the latest attempt's (e.g. its node)."""

    tags: dict[str, str]


@dataclass(frozen=True)
class Tags:
    """Tags learnt while the run trains (e.g. the batch size it settled on); a later record
    with the same key overwrites the value."""

    tags: dict[str, str]


@dataclass(frozen=True)
class Text:
    text: str
    path: str  # artifact path


@dataclass(frozen=True)
class Epoch:
    """One epoch's scalar metrics (at ``step=epoch``, measured at ``time_ms``) and its
    per-class F1 table as CSV."""

    epoch: int
    time_ms: int
    metrics: dict[str, float]
    per_class_csv: str


@dataclass(frozen=True)
class Steps:
    """Training metrics logged every few optimizer steps, one point per log, in order: each
    ``{"step": global step, "time_ms": measured at, "metrics": {name: value}}``."""

    points: list[dict[str, Any]]

    def joined(self, later: Steps) -> Steps | None:
        """Both in one record, so a backlog is sent in fewer calls; None when the two would not
        fit in one MLflow ``log_batch``."""
        points = [*self.points, *later.points]
        if sum(len(point["metrics"]) for point in points) > MAX_BATCH_METRICS:
            return None
        return Steps(points)


Record = Started | Tags | Text | Steps | Epoch | RunEnd
RECORD_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (Started, Tags, Text, Steps, Epoch, RunEnd)
}


@dataclass(frozen=True)
class RunSpec:
    """Where the trial's run lives and what it is created with."""

    uri: str
    experiment: str
    parent_run_id: str | None
    tags: dict[str, str]
    params: dict[str, str]


@dataclass
class OutboxState:
    """A trial run's delivery state: ``kept`` records wait in the outbox since an outage began
    (0: no outage), ``delayed`` were sent late so far."""

    spec: RunSpec
    run_id: str | None = None
    pending: list[Record] = field(default_factory=list)
    kept: int = 0
    delayed: int = 0


def save_outbox(path: Path, state: OutboxState) -> None:
    """Write the outbox atomically, redacted: it lies on storage every node (and user) shares."""
    document = {
        "spec": asdict(state.spec),
        "run_id": state.run_id,
        "pending": [{"type": type(r).__name__, **asdict(r)} for r in state.pending],
        "kept": state.kept,
        "delayed": state.delayed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(redact_tree(document)), encoding="utf-8")
    os.replace(partial, path)


def load_outbox(path: Path) -> OutboxState | None:
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    return OutboxState(
        spec=RunSpec(**document["spec"]),
        run_id=document["run_id"],
        pending=[_record(item) for item in document["pending"]],
        kept=document["kept"],
        delayed=document["delayed"],
    )


def _record(item: dict[str, Any]) -> Record:
    kind = RECORD_TYPES.get(item.get("type", ""))
    if kind is None:
        raise ValueError(f"unknown outbox record type {item.get('type')!r}")
    return kind(**{f.name: item[f.name] for f in fields(kind)})
