"""The one adapter around MLflow: a parent run per sweep, a child run per trial.

Ray's ``MLflowLoggerCallback`` has no parent run and duplicates runs after a restore (DESIGN §6),
so each trial opens its own run under the sweep's parent (tag ``mlflow.parentRunId``) and tags
it ``ray.trial_id``; a restarted trial looks that tag up and continues the same run. Metrics go
in one ``log_batch`` per epoch with ``step = epoch``. ``MlflowClient`` is used, not the fluent
API, so nothing depends on process-global "active run" state. The driver (``search/``) opens the
parent ``SweepRun`` and closes child runs of trials Tune ended without the trial saying so.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from trainable.settings import TrackingSettings

TRIAL_ID_TAG = "ray.trial_id"
SWEEP_TAG = "sweep.name"
PARENT_TAG = "mlflow.parentRunId"
PER_CLASS_ARTIFACT = "per_class_f1/epoch_{epoch:03d}.csv"


class TrialRun:
    """The MLflow run of one trial. ``TrialRun.open`` returns None when tracking is off."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    @classmethod
    def open(
        cls, settings: TrackingSettings, trial_id: str, run_name: str, params: dict[str, Any]
    ) -> TrialRun | None:
        if not settings.uri:
            return None
        client = MlflowClient(tracking_uri=settings.uri)
        experiment_id = _experiment_id(client, settings)
        run_id = _existing_run(client, experiment_id, trial_id, settings.parent_run_id)
        if run_id is None:
            tags = {TRIAL_ID_TAG: trial_id, "mlflow.runName": run_name}
            if settings.parent_run_id:
                tags[PARENT_TAG] = settings.parent_run_id
            run_id = client.create_run(experiment_id, tags=tags, run_name=run_name).info.run_id
            client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        else:
            client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return cls(client, run_id)

    def log_epoch(
        self, epoch: int, metrics: dict[str, float], per_class_f1: dict[str, dict[str, float]]
    ) -> None:
        """Scalar metrics at ``step=epoch``; that epoch's per-class F1 table as a CSV artifact."""
        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(key, float(value), now, epoch) for key, value in metrics.items()],
        )
        rows = [
            {"epoch": epoch, "split": split, "label": label, "f1": round(f1, 4)}
            for split, scores in per_class_f1.items()
            for label, f1 in scores.items()
        ]
        self.client.log_text(self.run_id, _as_csv(rows), PER_CLASS_ARTIFACT.format(epoch=epoch))

    def finish(self, error: BaseException | None = None, stopped_early: bool = False) -> None:
        """End the run: FAILED with an ``error`` tag, else FINISHED (``stopped_early`` tagged)."""
        if error is not None:
            message = f"{type(error).__name__}: {error}"[:5000]
            self.client.log_batch(self.run_id, tags=[RunTag("error", message)])
        if stopped_early:
            self.client.log_batch(self.run_id, tags=[RunTag("stopped_early", "true")])
        status = RunStatus.FAILED if error is not None else RunStatus.FINISHED
        self.client.set_terminated(self.run_id, status=RunStatus.to_string(status))


class TrackingError(RuntimeError):
    """The MLflow tracking server cannot be used (message names the URI and the cause)."""


class SweepRun:
    """The sweep's parent run; its children are the trials' runs."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @classmethod
    def open(
        cls, settings: TrackingSettings, name: str, tags: dict[str, str], run_id: str | None = None
    ) -> SweepRun:
        """Create the parent run, or reopen ``run_id`` when a sweep resumes."""
        client = MlflowClient(tracking_uri=settings.uri)
        try:
            with _fail_fast():  # an unreachable server answers in seconds, not after retries
                client.search_experiments(max_results=1)
            experiment_id = _experiment_id(client, settings)
            if run_id is None:
                all_tags = {"mlflow.runName": name, SWEEP_TAG: name, **tags}
                run_id = client.create_run(experiment_id, tags=all_tags, run_name=name).info.run_id
            else:
                client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        except Exception as error:  # any transport or store error: say where and why, once
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise TrackingError(
                f"tracking.uri={settings.uri!r}: MLflow is not usable "
                f"({type(error).__name__}: {first_line[:300]})"
            ) from None
        return cls(client, run_id, experiment_id)

    def child_runs(self) -> dict[str, Any]:
        """Trial id → its MLflow run, for every child of this sweep."""
        runs = self.client.search_runs(
            [self.experiment_id], f"tags.`{PARENT_TAG}` = '{self.run_id}'", max_results=10_000
        )
        return {run.data.tags.get(TRIAL_ID_TAG, ""): run for run in runs}

    def close_child(self, trial_id: str, error: str | None = None) -> None:
        """End a trial's run that is still RUNNING (a trial stopped or killed by Tune)."""
        run = self.child_runs().get(trial_id)
        if run is None or run.info.status != "RUNNING":
            return
        if error is not None:
            self.client.log_batch(run.info.run_id, tags=[RunTag("error", error[:5000])])
        status = RunStatus.FAILED if error is not None else RunStatus.FINISHED
        self.client.set_terminated(run.info.run_id, status=RunStatus.to_string(status))

    def drop_orphans(self, trial_ids: set[str]) -> int:
        """Soft-delete child runs of trials the sweep no longer knows (a driver killed before
        Tune saved a new trial leaves its run behind; the resumed sweep re-creates that trial).
        MLflow keeps deleted runs restorable. Returns how many were dropped."""
        orphans = [run for trial, run in self.child_runs().items() if trial not in trial_ids]
        for run in orphans:
            self.client.delete_run(run.info.run_id)
        return len(orphans)

    def interrupt(self) -> None:
        """The sweep stopped before its end: parent and unfinished trial runs become KILLED
        (``--resume`` reopens them)."""
        killed = RunStatus.to_string(RunStatus.KILLED)
        for run in self.child_runs().values():
            if run.info.status == "RUNNING":
                self.client.set_terminated(run.info.run_id, status=killed)
        self.client.set_terminated(self.run_id, status=killed)

    def finish(self, summary_markdown: str, failed: bool = False) -> None:
        self.client.log_text(self.run_id, summary_markdown, "summary.md")
        status = RunStatus.FAILED if failed else RunStatus.FINISHED
        self.client.set_terminated(self.run_id, status=RunStatus.to_string(status))


@dataclass
class TrialRecord:
    """One trial's MLflow run as the report reads it."""

    run_id: str
    status: str
    params: dict[str, str]
    tags: dict[str, str]
    history: dict[str, dict[int, float]]  # metric -> {epoch: value}
    start_ms: int
    end_ms: int | None


@dataclass
class SweepRecord:
    parent_run_id: str
    name: str
    tags: dict[str, str]
    start_ms: int
    end_ms: int | None
    trials: list[TrialRecord]


def find_sweep_run(
    uri: str, experiment: str, sweep_name: str | None = None, parent_run_id: str | None = None
) -> str:
    """The parent run id of a sweep: given, or the newest parent run (named ``sweep_name``)."""
    if parent_run_id:
        return parent_run_id
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise TrackingError(f"no MLflow experiment {experiment!r} at {uri}")
    query = f"tags.`{SWEEP_TAG}` = '{sweep_name}'" if sweep_name else f"tags.`{SWEEP_TAG}` != ''"
    runs = client.search_runs(
        [found.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1
    )
    if not runs:
        named = f" named {sweep_name!r}" if sweep_name else ""
        raise TrackingError(f"no sweep{named} in MLflow experiment {experiment!r} at {uri}")
    return runs[0].info.run_id


def read_sweep(uri: str, parent_run_id: str) -> SweepRecord:
    """The parent run and every trial run under it, with per-epoch metric histories."""
    sweep = SweepRun(MlflowClient(tracking_uri=uri), parent_run_id, "")
    try:
        parent = sweep.client.get_run(parent_run_id)
    except Exception:
        raise TrackingError(f"no MLflow run {parent_run_id!r} at {uri}") from None
    sweep.experiment_id = parent.info.experiment_id
    trials = []
    for run in sweep.child_runs().values():
        history = {
            key: {m.step: m.value for m in sweep.client.get_metric_history(run.info.run_id, key)}
            for key in run.data.metrics
        }
        trials.append(
            TrialRecord(
                run.info.run_id,
                run.info.status,
                dict(run.data.params),
                dict(run.data.tags),
                history,
                run.info.start_time,
                run.info.end_time,
            )
        )
    return SweepRecord(
        parent_run_id,
        parent.data.tags.get(SWEEP_TAG, parent.info.run_name or ""),
        dict(parent.data.tags),
        parent.info.start_time,
        parent.info.end_time,
        trials,
    )


def download_artifact(uri: str, run_id: str, path: str, into: str) -> str:
    return MlflowClient(tracking_uri=uri).download_artifacts(run_id, path, into)


def log_folder(uri: str, run_id: str, folder: str, artifact_path: str) -> None:
    MlflowClient(tracking_uri=uri).log_artifacts(run_id, folder, artifact_path)


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """One attempt with a short timeout: MLflow's HTTP client otherwise retries with backoff for
    minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7 by default in MLflow 3.17)."""
    saved = {key: os.environ.get(key) for key in _FAIL_FAST}
    os.environ.update(_FAIL_FAST)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def _experiment_id(client: MlflowClient, settings: TrackingSettings) -> str:
    if settings.parent_run_id:
        return client.get_run(settings.parent_run_id).info.experiment_id
    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(settings.experiment)


def _existing_run(
    client: MlflowClient, experiment_id: str, trial_id: str, parent_run_id: str | None
) -> str | None:
    query = f"tags.`{TRIAL_ID_TAG}` = '{trial_id}'"
    if parent_run_id:
        query += f" and tags.`{PARENT_TAG}` = '{parent_run_id}'"
    runs = client.search_runs([experiment_id], filter_string=query, max_results=1)
    return runs[0].info.run_id if runs else None


def _as_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", "split", "label", "f1"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
