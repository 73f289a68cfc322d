"""A trial's MLflow run, kept whole through tracking-server outages.

Everything a trial logs (the run with its params and tags, its settings, each epoch's metrics and
per-class table, its end) is a record sent in order. When the server does not answer, the record
is kept in the trial's outbox file, ``<storage>/<sweep>/mlflow_outbox/<trial_id>.json``, and
training goes on; the backlog is sent before the next record. A trial restarted elsewhere reads
its outbox from the shared storage; the driver sends what is left after the sweep and reports
what it could not (``flush_outboxes``). Metrics keep the time they were measured at.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from trainable.common.settings import TrackingSettings
from trainable.common.tracking.client import (
    PARENT_TAG,
    TRIAL_ID_TAG,
    bounded_requests,
    experiment_id,
    is_outage,
)

OUTBOX_DIR = "mlflow_outbox"
PER_CLASS_ARTIFACT = "per_class_f1/epoch_{epoch:03d}.csv"
DELAYED_TAG = "tracking.delayed_records"


class TrialRun:
    """The MLflow run of one trial. ``TrialRun.open`` returns None when tracking is off."""

    def __init__(self, outbox: Path, state: dict[str, Any]) -> None:
        self.outbox = outbox
        # {"uri", "create", "run_id", "pending": [record, ...], "kept": n in the outbox (0: no
        # outage), "delayed": n sent late so far}
        self.state = state
        self.client = MlflowClient(tracking_uri=state["uri"])

    @classmethod
    def open(
        cls,
        settings: TrackingSettings,
        trial_id: str,
        run_name: str,
        params: dict[str, Any],
        tags: dict[str, str],
        experiment_dir: Path,
    ) -> TrialRun | None:
        """Find this trial's run (a restarted trial continues it) or create it; records the
        server does not take wait in ``experiment_dir``'s outbox."""
        if not settings.uri:
            return None
        outbox = experiment_dir / OUTBOX_DIR / f"{trial_id}.json"
        state = _read(outbox) or {"run_id": None, "pending": [], "kept": 0, "delayed": 0}
        state.update(
            uri=settings.uri,
            create={
                "experiment": settings.experiment,
                "parent_run_id": settings.parent_run_id,
                "tags": {TRIAL_ID_TAG: trial_id, "mlflow.runName": run_name, **tags},
                "params": {key: str(value) for key, value in params.items()},
            },
        )
        run = cls(outbox, state)
        run._send({"kind": "running", "tags": tags})
        return run

    @classmethod
    def from_outbox(cls, outbox: Path) -> TrialRun:
        return cls(outbox, _read(outbox))

    @property
    def run_id(self) -> str | None:
        return self.state["run_id"]

    def log_text(self, text: str, artifact_path: str) -> None:
        self._send({"kind": "text", "text": text, "path": artifact_path})

    def log_epoch(
        self, epoch: int, metrics: dict[str, float], per_class_f1: dict[str, dict[str, float]]
    ) -> None:
        """Scalar metrics at ``step=epoch``; that epoch's per-class F1 table as a CSV artifact."""
        rows = [
            {"epoch": epoch, "split": split, "label": label, "f1": round(f1, 4)}
            for split, scores in per_class_f1.items()
            for label, f1 in scores.items()
        ]
        record = {
            "kind": "epoch",
            "epoch": epoch,
            "time_ms": int(time.time() * 1000),
            "metrics": {key: float(value) for key, value in metrics.items()},
            "per_class_csv": _as_csv(rows),
        }
        self._send(record)

    def finish(self, error: BaseException | None = None, stopped_early: bool = False) -> None:
        """End the run: FAILED with an ``error`` tag, else FINISHED (``stopped_early`` tagged)."""
        tags = {}
        if error is not None:
            tags["error"] = f"{type(error).__name__}: {error}"[:5000]
        if stopped_early:
            tags["stopped_early"] = "true"
        status = RunStatus.FAILED if error is not None else RunStatus.FINISHED
        self._send({"kind": "end", "status": RunStatus.to_string(status), "tags": tags})

    def flush(self) -> bool:
        """Send the backlog in order; keep what the server did not take. True when all sent."""
        try:
            with bounded_requests():  # a few seconds per attempt, then training goes on
                if self.state["run_id"] is None:
                    self.state["run_id"] = self._find_or_create()
                while self.state["pending"]:
                    self._deliver(self.state["pending"][0])
                    self.state["pending"].pop(0)
                kept = self.state["kept"]
                if kept:  # the run says its records came late, not that none were lost
                    self.state["delayed"] += kept
                    self.client.set_tag(self.run_id, DELAYED_TAG, str(self.state["delayed"]))
        except Exception as error:
            if not is_outage(error):
                raise
            self._keep(error)
            return False
        if kept:
            print(f"mlflow: the server answers again; sent {kept} delayed record(s)", flush=True)
        self.state["kept"] = 0
        self.outbox.unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------ internals
    def _send(self, record: dict[str, Any]) -> None:
        self.state["pending"].append(record)
        self.flush()

    def _keep(self, error: Exception) -> None:
        if not self.state["kept"]:  # the outage starts now: say so once
            message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            print(
                f"mlflow: server unreachable ({type(error).__name__}: {message}); training goes "
                f"on, records are kept in {self.outbox} and sent when it answers",
                flush=True,
            )
        self.state["kept"] = len(self.state["pending"])
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        partial = self.outbox.with_suffix(".tmp")
        partial.write_text(json.dumps(self.state), encoding="utf-8")
        os.replace(partial, self.outbox)  # a kill mid-write never leaves half a file

    def _find_or_create(self) -> str:
        create = self.state["create"]
        experiment = experiment_id(self.client, create["experiment"], create["parent_run_id"])
        query = f"tags.`{TRIAL_ID_TAG}` = '{create['tags'][TRIAL_ID_TAG]}'"
        if create["parent_run_id"]:
            query += f" and tags.`{PARENT_TAG}` = '{create['parent_run_id']}'"
        found = self.client.search_runs([experiment], filter_string=query, max_results=1)
        if found:
            return found[0].info.run_id
        tags = dict(create["tags"])
        if create["parent_run_id"]:
            tags[PARENT_TAG] = create["parent_run_id"]
        run = self.client.create_run(experiment, tags=tags, run_name=tags["mlflow.runName"])
        params = [Param(key, value) for key, value in create["params"].items()]
        self.client.log_batch(run.info.run_id, params=params)
        return run.info.run_id

    def _deliver(self, record: dict[str, Any]) -> None:
        run_id, kind = self.run_id, record["kind"]
        tags = [RunTag(key, value) for key, value in record.get("tags", {}).items()]
        if kind == "running":
            self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            self.client.log_batch(run_id, tags=tags)
        elif kind == "text":
            self.client.log_text(run_id, record["text"], record["path"])
        elif kind == "epoch":
            epoch, at = record["epoch"], record["time_ms"]
            metrics = [Metric(key, value, at, epoch) for key, value in record["metrics"].items()]
            self.client.log_batch(run_id, metrics=metrics)
            artifact = PER_CLASS_ARTIFACT.format(epoch=epoch)
            self.client.log_text(run_id, record["per_class_csv"], artifact)
        elif kind == "end":
            self.client.log_batch(run_id, tags=tags)
            self.client.set_terminated(run_id, status=record["status"])
        else:
            raise ValueError(f"{self.outbox}: unknown record kind {kind!r}")


def flush_outboxes(experiment_dir: Path) -> dict[str, int]:
    """Send what trials could not (driver side, after the sweep). Returns trial id → records
    still unsent, for the trials whose outbox the server still did not take."""
    unsent = {}
    for outbox in sorted((experiment_dir / OUTBOX_DIR).glob("*.json")):
        run = TrialRun.from_outbox(outbox)
        if not run.flush():
            unsent[outbox.stem] = len(run.state["pending"])
    return unsent


def _read(outbox: Path) -> dict[str, Any] | None:
    if not outbox.is_file():
        return None
    return json.loads(outbox.read_text(encoding="utf-8"))


def _as_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", "split", "label", "f1"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
