"""The sweep's parent run, opened by the driver; its children are the trials' runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from trainable.common.settings import TrackingSettings
from trainable.common.tracking.client import (
    CONFIRMATION_STAGE,
    PARENT_TAG,
    STAGE_TAG,
    SWEEP_TAG,
    TRIAL_ID_TAG,
    experiment_id,
    probe_server,
    unusable,
)


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
        probe_server(settings.uri)
        client = MlflowClient(tracking_uri=settings.uri)
        try:
            experiment = experiment_id(client, settings.experiment, settings.parent_run_id)
            if run_id is None:
                all_tags = {"mlflow.runName": name, SWEEP_TAG: name, **tags}
                run_id = client.create_run(experiment, tags=all_tags, run_name=name).info.run_id
            else:
                client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        except Exception as error:  # any transport or store error: say where and why, once
            raise unusable(settings.uri, error) from None
        return cls(client, run_id, experiment)

    def child_runs(self) -> dict[str, Any]:
        """Trial id → its MLflow run, for every trial of this sweep (confirmation runs aside)."""
        return {
            run.data.tags.get(TRIAL_ID_TAG, ""): run
            for run in self._children()
            if run.data.tags.get(STAGE_TAG) != CONFIRMATION_STAGE
        }

    def confirmation_runs(self) -> list[Any]:
        """The report's re-trainings of the best configurations with other seeds."""
        return [
            run for run in self._children() if run.data.tags.get(STAGE_TAG) == CONFIRMATION_STAGE
        ]

    def _children(self) -> list[Any]:
        return self.client.search_runs(
            [self.experiment_id], f"tags.`{PARENT_TAG}` = '{self.run_id}'", max_results=10_000
        )

    def close_child(self, trial_id: str, error: str | None = None) -> None:
        """End a trial's run that is still RUNNING (a trial stopped or killed by Tune)."""
        run = self.child_runs().get(trial_id)
        if run is not None and run.info.status == "RUNNING":
            self._close(run.info.run_id, error)

    def close_children(self, errors: dict[str, str | None]) -> None:
        """End every child run still RUNNING: FAILED with its error, else FINISHED (trials
        lost with a node or stopped before their own last word)."""
        for trial_id, run in self.child_runs().items():
            if run.info.status == "RUNNING" and trial_id in errors:
                self._close(run.info.run_id, errors[trial_id])

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

    def log_data(
        self, guids_by_split: dict[str, list[str]], files: dict[str, tuple[str, str]]
    ) -> None:
        """Which examples each split holds (``data/<split>_guids.txt``) and the data files as
        dataset inputs, so a verdict can be traced to the exact data it was measured on.

        ``files`` maps a role (train, dev, relations) to (path, sha256). MLflow's digest column
        holds 36 characters: the digest is the sha256's first 36 hex digits, the profile holds
        all of it."""
        for split, guids in guids_by_split.items():
            self.client.log_text(self.run_id, "\n".join(guids) + "\n", f"data/{split}_guids.txt")
        datasets = [
            DatasetInput(
                Dataset(
                    name=Path(path).name,
                    digest=sha256[:36],
                    source_type="local",
                    source=json.dumps({"uri": path}),
                    profile=json.dumps({"sha256": sha256}),
                ),
                tags=[InputTag("mlflow.data.context", role)],
            )
            for role, (path, sha256) in files.items()
        ]
        self.client.log_inputs(self.run_id, datasets=datasets)

    def finish(self, summary_markdown: str, failed: bool = False) -> None:
        self.client.log_text(self.run_id, summary_markdown, "summary.md")
        status = RunStatus.FAILED if failed else RunStatus.FINISHED
        self.client.set_terminated(self.run_id, status=RunStatus.to_string(status))

    def _close(self, run_id: str, error: str | None) -> None:
        if error is not None:
            self.client.log_batch(run_id, tags=[RunTag("error", error[:5000])])
        status = RunStatus.FAILED if error is not None else RunStatus.FINISHED
        self.client.set_terminated(run_id, status=RunStatus.to_string(status))
