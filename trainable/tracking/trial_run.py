"""A trial's MLflow run, kept whole through tracking-server outages.

Everything a trial logs (the run with its params and tags, its settings, the training loss every
few steps, each epoch's metrics and per-class table, its end) is a record (``outbox``) sent in
order. When the server does not answer, the record is kept in the trial's outbox file,
``<storage>/<sweep>/mlflow_outbox/<trial_id>.json``, and training goes on; the backlog is sent
before the next record (step points only join the backlog: the next epoch's record tries again).
A trial restarted elsewhere reads its outbox from the shared storage; the driver sends what is
left after the sweep and reports what it could not (``flush_outboxes``). Metrics keep the time
they were measured at.

An epoch is logged once per run. A restarted attempt may train epochs its run already holds:
Tune resumes from the checkpoint its saved state names, which can be older than the last epoch
logged (a driver killed before its next state save, a worker killed between logging an epoch
and reporting it). The trial is deterministic per seed, so those epochs are skipped, not logged
a second time.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag

from trainable.common.settings import TrackingSettings
from trainable.common.tracking.client import (
    PARENT_TAG,
    TRIAL_ID_TAG,
    bounded_requests,
    experiment_id,
    is_outage,
    tracking_client,
)
from trainable.common.tracking.lifecycle import RunEnd, end_run, mark_running
from trainable.tracking.outbox import (
    Epoch,
    OutboxState,
    Record,
    RunSpec,
    Started,
    Steps,
    Tags,
    Text,
    load_outbox,
    save_outbox,
)

OUTBOX_DIR = "mlflow_outbox"
PER_CLASS_ARTIFACT = "per_class_f1/epoch_{epoch:03d}.csv"
DELAYED_TAG = "tracking.delayed_records"


class NullTrialRun:
    """Tracking is off (no ``tracking.uri``): the trial logs nothing and asks no questions."""

    run_id = None

    def log_text(self, text: str, artifact_path: str) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def log_steps(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def log_epoch(
        self, epoch: int, metrics: dict[str, float], per_class_f1: dict[str, dict[str, float]]
    ) -> None:
        pass

    def finish(self, end: RunEnd) -> None:
        pass


class TrialRun(NullTrialRun):
    """The MLflow run of one trial; ``open_trial_run`` finds or creates it."""

    def __init__(self, path: Path, state: OutboxState) -> None:
        self.path = path
        self.state = state
        self.client = tracking_client(state.spec.uri)
        self._logged_epochs: set[int] | None = None  # read from the run at the first epoch

    @property
    def run_id(self) -> str | None:
        return self.state.run_id

    def log_text(self, text: str, artifact_path: str) -> None:
        self._send(Text(text, artifact_path))

    def set_tags(self, tags: dict[str, str]) -> None:
        """Set (or overwrite) tags on the run."""
        self._send(Tags(dict(tags)))

    def log_steps(self, step: int, metrics: dict[str, float]) -> None:
        """Metrics at a global optimizer ``step`` (MLflow ``step=step``), measured now."""
        point = {
            "step": step,
            "time_ms": int(time.time() * 1000),
            "metrics": {key: float(value) for key, value in metrics.items()},
        }
        self._send(Steps([point]))

    def log_epoch(
        self, epoch: int, metrics: dict[str, float], per_class_f1: dict[str, dict[str, float]]
    ) -> None:
        """Scalar metrics at ``step=epoch``; that epoch's per-class F1 table as a CSV artifact."""
        rows = [
            {"epoch": epoch, "split": split, "label": label, "f1": round(f1, 4)}
            for split, scores in per_class_f1.items()
            for label, f1 in scores.items()
        ]
        metrics = {key: float(value) for key, value in metrics.items()}
        self._send(Epoch(epoch, int(time.time() * 1000), metrics, _as_csv(rows)))

    def finish(self, end: RunEnd) -> None:
        self._send(end)

    def flush(self) -> bool:
        """Send the backlog in order; keep what the server did not take. True when all sent."""
        state = self.state
        try:
            with bounded_requests():  # a few seconds per attempt, then training goes on
                if state.run_id is None:
                    state.run_id = self._find_or_create()
                while state.pending:
                    self._deliver(state.pending[0])
                    state.pending.pop(0)
                kept = state.kept
                if kept:  # the run says its records came late, not that none were lost
                    state.delayed += kept
                    self.client.set_tag(state.run_id, DELAYED_TAG, str(state.delayed))
        except Exception as error:
            if not is_outage(error):
                raise
            self._keep(error)
            return False
        if kept:
            print(f"mlflow: the server answers again; sent {kept} delayed record(s)", flush=True)
        state.kept = 0
        self.path.unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------ internals
    def _send(self, record: Record) -> None:
        pending = self.state.pending
        if isinstance(record, Steps) and self.state.kept:
            # During an outage step points only wait (one bounded attempt per log would slow
            # training): the next epoch's record tries the server again.
            last = pending[-1] if pending else None
            joined = last.joined(record) if isinstance(last, Steps) else None
            if joined is not None:
                pending[-1] = joined
            else:
                pending.append(record)
            self.state.kept = len(pending)
            save_outbox(self.path, self.state)
            return
        pending.append(record)
        self.flush()

    def _keep(self, error: Exception) -> None:
        if not self.state.kept:  # the outage starts now: say so once
            message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            print(
                f"mlflow: server unreachable ({type(error).__name__}: {message}); training goes "
                f"on, records are kept in {self.path} and sent when it answers",
                flush=True,
            )
        self.state.kept = len(self.state.pending)
        save_outbox(self.path, self.state)

    def _find_or_create(self) -> str:
        spec = self.state.spec
        experiment = experiment_id(self.client, spec.experiment, spec.parent_run_id)
        query = f"tags.`{TRIAL_ID_TAG}` = '{spec.tags[TRIAL_ID_TAG]}'"
        if spec.parent_run_id:
            query += f" and tags.`{PARENT_TAG}` = '{spec.parent_run_id}'"
        found = self.client.search_runs([experiment], filter_string=query, max_results=1)
        if found:
            return found[0].info.run_id
        tags = dict(spec.tags)
        if spec.parent_run_id:
            tags[PARENT_TAG] = spec.parent_run_id
        run = self.client.create_run(experiment, tags=tags, run_name=tags["mlflow.runName"])
        params = [Param(key, value) for key, value in spec.params.items()]
        self.client.log_batch(run.info.run_id, params=params)
        return run.info.run_id

    def _deliver(self, record: Record) -> None:
        run_id = self.run_id
        match record:
            case Started(tags=tags):
                mark_running(self.client, run_id, tags)
            case Tags(tags=tags):
                self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            case Text(text=text, path=path):
                self.client.log_text(run_id, text, path)
            case Steps(points=points):
                logged = [
                    Metric(key, value, point["time_ms"], point["step"])
                    for point in points
                    for key, value in point["metrics"].items()
                ]
                self.client.log_batch(run_id, metrics=logged)
            case Epoch(epoch=epoch, time_ms=at, metrics=metrics, per_class_csv=table):
                if epoch in self._epochs_logged():
                    return  # an earlier attempt logged it (module docstring)
                logged = [Metric(key, value, at, epoch) for key, value in metrics.items()]
                self.client.log_batch(run_id, metrics=logged)
                self.client.log_text(run_id, table, PER_CLASS_ARTIFACT.format(epoch=epoch))
                self._logged_epochs.add(epoch)
            case RunEnd():
                end_run(self.client, run_id, record)

    def _epochs_logged(self) -> set[int]:
        """Epochs the run holds: every epoch record carries the ``epoch`` metric at its step."""
        if self._logged_epochs is None:
            history = self.client.get_metric_history(self.run_id, "epoch")
            self._logged_epochs = {metric.step for metric in history}
        return self._logged_epochs


def open_trial_run(
    settings: TrackingSettings,
    trial_id: str,
    run_name: str,
    params: dict[str, Any],
    tags: dict[str, str],
    experiment_dir: Path,
) -> NullTrialRun:
    """Find this trial's run (a restarted trial continues it) or create it; records the server
    does not take wait in ``experiment_dir``'s outbox. A ``NullTrialRun`` when tracking is off."""
    if not settings.uri:
        return NullTrialRun()
    path = experiment_dir / OUTBOX_DIR / f"{trial_id}.json"
    spec = RunSpec(
        uri=settings.uri,
        experiment=settings.experiment,
        parent_run_id=settings.parent_run_id,
        tags={TRIAL_ID_TAG: trial_id, "mlflow.runName": run_name, **tags},
        params={key: str(value) for key, value in params.items()},
    )
    earlier = load_outbox(path)  # a retried trial continues the backlog of its last attempt
    run = TrialRun(path, replace(earlier, spec=spec) if earlier else OutboxState(spec))
    run._send(Started(tags))
    return run


def flush_outboxes(experiment_dir: Path) -> dict[str, int]:
    """Send what trials could not (driver side, after the sweep). Returns trial id → records
    still unsent, for the trials whose outbox the server still did not take."""
    unsent = {}
    for path in sorted((experiment_dir / OUTBOX_DIR).glob("*.json")):
        run = TrialRun(path, load_outbox(path))
        if not run.flush():
            unsent[path.stem] = len(run.state.pending)
    return unsent


def _as_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", "split", "label", "f1"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
