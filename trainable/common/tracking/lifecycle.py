"""The one owner of an MLflow run's status: every RUNNING, FINISHED, FAILED and KILLED a run of
ours gets is written here, by the trial (its own start and end) or by the driver (runs Tune
ended before their trial could: stopped at a rung, lost with a node, interrupted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow.entities import RunStatus, RunTag
from mlflow.tracking import MlflowClient

RUNNING = RunStatus.to_string(RunStatus.RUNNING)
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
FAILED = RunStatus.to_string(RunStatus.FAILED)
KILLED = RunStatus.to_string(RunStatus.KILLED)
ERROR_TAG = "error"
STOPPED_EARLY_TAG = "stopped_early"


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: FINISHED (possibly stopped early by the scheduler), FAILED with the
    error, or KILLED (the sweep was interrupted; ``--resume`` reopens it)."""

    status: str
    error: str | None = None
    stopped_early: bool = False

    @classmethod
    def finished(cls, stopped_early: bool = False) -> RunEnd:
        return cls(FINISHED, stopped_early=stopped_early)

    @classmethod
    def failed(cls, error: str) -> RunEnd:
        return cls(FAILED, error=error[:5000])

    @classmethod
    def killed(cls) -> RunEnd:
        return cls(KILLED)

    def tags(self) -> dict[str, str]:
        tags = {}
        if self.error is not None:
            tags[ERROR_TAG] = self.error
        if self.stopped_early:
            tags[STOPPED_EARLY_TAG] = "true"
        return tags


def mark_running(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """A run (re)starts: a new run, a retried trial, or a resumed sweep."""
    client.update_run(run_id, status=RUNNING)
    if tags:
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])


def end_run(client: MlflowClient, run_id: str, end: RunEnd) -> None:
    tags = end.tags()
    if tags:
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
    client.set_terminated(run_id, status=end.status)


def end_if_running(client: MlflowClient, run: Any, end: RunEnd) -> bool:
    """End ``run`` (an MLflow ``Run``) unless it already ended; True when it was ended here."""
    if run.info.status != RUNNING:
        return False
    end_run(client, run.info.run_id, end)
    return True
