"""The sweep's parent run, opened by the driver; its children are the trials' runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.tracking import MlflowClient

from trainable.common.redact import portable_path, redact
from trainable.common.settings import TrackingSettings
from trainable.common.tracking.client import (
    SWEEP_TAG,
    TRIAL_ID_TAG,
    child_runs,
    experiment_id,
    is_confirmation,
    probe_server,
    tracking_client,
    unusable,
)
from trainable.common.tracking.lifecycle import (
    FAILED,
    FINISHED,
    RunEnd,
    end_if_running,
    end_run,
    mark_running,
)

NOTE_TAG = "mlflow.note.content"  # the run's description in the MLflow UI
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
PARAMS_PER_BATCH = 100  # MLflow's limit on params per log_batch call


class SweepRun:
    """The sweep's parent run; its children are the trials' runs."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @classmethod
    def open(
        cls,
        settings: TrackingSettings,
        name: str,
        tags: dict[str, str],
        run_id: str | None = None,
        describe: SweepDescription | None = None,
    ) -> SweepRun:
        """Create the parent run (with ``describe``'s params and files), or reopen ``run_id``
        when a sweep resumes; ``tags`` are set either way."""
        probe_server(settings.uri)
        client = tracking_client(settings.uri)
        try:
            experiment = experiment_id(client, settings.experiment, settings.parent_run_id)
            if run_id is None:
                all_tags = {"mlflow.runName": name, SWEEP_TAG: name, **tags}
                run_id = client.create_run(experiment, tags=all_tags, run_name=name).info.run_id
                if describe is not None:
                    describe.log(client, run_id)
            else:
                mark_running(client, run_id, tags)
        except Exception as error:  # any transport or store error: say where and why, once
            raise unusable(settings.uri, error) from None
        return cls(client, run_id, experiment)

    def child_runs(self) -> dict[str, Any]:
        """Trial id → its MLflow run, for every trial of this sweep (confirmation runs aside)."""
        return {
            run.data.tags.get(TRIAL_ID_TAG, ""): run
            for run in child_runs(self.client, self.experiment_id, self.run_id)
            if not is_confirmation(run)
        }

    def close_child(self, trial_id: str, end: RunEnd) -> None:
        """End a trial's run that is still RUNNING (a trial Tune stopped at a rung or lost)."""
        run = self.child_runs().get(trial_id)
        if run is not None:
            end_if_running(self.client, run, end)

    def close_children(self, ends: dict[str, RunEnd]) -> None:
        """End every listed trial's run still RUNNING (trials lost with a node or stopped
        before their own last word)."""
        for trial_id, run in self.child_runs().items():
            if trial_id in ends:
                end_if_running(self.client, run, ends[trial_id])

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
        for run in self.child_runs().values():
            end_if_running(self.client, run, RunEnd.killed())
        end_run(self.client, self.run_id, RunEnd.killed())

    def log_data(
        self, guids_by_split: dict[str, list[str]], files: dict[str, tuple[str, str]]
    ) -> None:
        """Which examples each split holds (``data/<split>_guids.txt``) and the data files as
        dataset inputs, so a verdict can be traced to the exact data it was measured on.

        ``files`` maps a role (train, dev, relations) to (path, sha256); the path is shown
        portable (``portable_path``), the digest names the content. MLflow's digest column
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
                    source=json.dumps({"uri": portable_path(path)}),
                    profile=json.dumps({"sha256": sha256}),
                ),
                tags=[InputTag("mlflow.data.context", role)],
            )
            for role, (path, sha256) in files.items()
        ]
        self.client.log_inputs(self.run_id, datasets=datasets)

    def finish(
        self,
        summary_markdown: str,
        best_scores: dict[str, float] | None = None,
        failed: bool = False,
    ) -> None:
        """The summary as a file and as the run's description (MLflow shows ``mlflow.note.content``
        on the run's page), the best trial's scores as the run's metrics, then the end."""
        self.client.log_text(self.run_id, summary_markdown, "summary.md")
        self.client.set_tag(self.run_id, NOTE_TAG, summary_markdown)
        if best_scores:
            at = int(time.time() * 1000)
            metrics = [Metric(key, value, at, 0) for key, value in best_scores.items()]
            self.client.log_batch(self.run_id, metrics=metrics)
        end = RunEnd(FAILED if failed else FINISHED)
        end_run(self.client, self.run_id, end)


@dataclass(frozen=True)
class SweepDescription:
    """What the parent run says about the sweep from its start: the settings as params (MLflow
    params cannot change later, so only what a resumed sweep keeps) and files such as the
    searched space."""

    params: dict[str, str]
    texts: dict[str, str] = field(default_factory=dict)  # artifact path -> content

    def log(self, client: MlflowClient, run_id: str) -> None:
        # Redacted before the cut, so a secret across the limit is not left half visible.
        params = [
            Param(key, redact(value)[:MAX_PARAM_LENGTH]) for key, value in self.params.items()
        ]
        for start in range(0, len(params), PARAMS_PER_BATCH):
            client.log_batch(run_id, params=params[start : start + PARAMS_PER_BATCH])
        for path, text in self.texts.items():
            client.log_text(run_id, text, path)
