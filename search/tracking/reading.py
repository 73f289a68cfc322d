"""The report's view of a finished sweep: the parent run and every trial run with histories."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from trainable.common.settings import check_folder_name
from trainable.common.tracking.client import (
    PARENT_TAG,
    SWEEP_TAG,
    TrackingError,
    child_runs,
    is_confirmation,
    tracking_client,
)

SYSTEM_METRIC_PREFIX = "system/"  # MLflow's system metrics monitor names its metrics so
PER_STEP_SUFFIX = "_step"  # training metrics logged every few optimizer steps: train_loss_step


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
    confirmations: list[TrialRecord]  # the report's re-trainings with other seeds

    @property
    def checked_name(self) -> str:
        """``name``, refused unless one plain folder name: it comes from a tag anyone with EDIT
        can set, and becomes folders, Tune experiment names and lines of ``best_config.yaml``
        (where ``${...}`` would be expanded and a newline would add keys)."""
        try:
            return check_folder_name(self.name)
        except ValueError as error:
            raise TrackingError(
                f"the sweep's name tag {self.name!r} (MLflow run {self.parent_run_id}) {error}"
            ) from None


def find_sweep_run(
    uri: str, experiment: str, sweep_name: str | None = None, parent_run_id: str | None = None
) -> str:
    """The parent run id of a sweep: given, or the newest parent run (named ``sweep_name``)."""
    client = tracking_client(uri)
    if parent_run_id:
        _refuse_child_run(client, uri, parent_run_id)
        return parent_run_id
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise TrackingError(f"no MLflow experiment {experiment!r} at {uri}")
    query = f"tags.`{SWEEP_TAG}` = '{sweep_name}'" if sweep_name else f"tags.`{SWEEP_TAG}` != ''"
    run_id = _newest_run(client, found.experiment_id, query)
    if run_id is None:
        named = f" named {sweep_name!r}" if sweep_name else ""
        raise TrackingError(f"no sweep{named} in MLflow experiment {experiment!r} at {uri}")
    return run_id


def _refuse_child_run(client: MlflowClient, uri: str, run_id: str) -> None:
    """A trial's or confirmation's run id given for its sweep's: name the sweep to pass."""
    try:
        run = client.get_run(run_id)
    except Exception:
        raise TrackingError(f"no MLflow run {run_id!r} at {uri}") from None
    parent_id = run.data.tags.get(PARENT_TAG)
    if not parent_id:
        return
    try:
        parent = client.get_run(parent_id)
        name = parent.data.tags.get(SWEEP_TAG, parent.info.run_name or "")
    except Exception:
        name = "?"
    kind = "a confirmation run" if is_confirmation(run) else "a trial"
    raise TrackingError(
        f"run {run_id} is {kind} of sweep {name!r} (parent run {parent_id}); "
        f"pass --run-id {parent_id}"
    )


def newest_run_tagged(uri: str, experiment: str, tag: str, value: str) -> str | None:
    """The id of the newest run of ``experiment`` whose ``tag`` is ``value``, if any."""
    client = tracking_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    return _newest_run(client, found.experiment_id, f"tags.`{tag}` = '{value}'")


def _newest_run(client: MlflowClient, experiment_id: str, query: str) -> str | None:
    runs = client.search_runs(
        [experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0].info.run_id if runs else None


def read_sweep(uri: str, parent_run_id: str) -> SweepRecord:
    """The parent run and every trial run under it, with per-epoch metric histories."""
    client = tracking_client(uri)
    try:
        parent = client.get_run(parent_run_id)
    except Exception:
        raise TrackingError(f"no MLflow run {parent_run_id!r} at {uri}") from None
    children = child_runs(client, parent.info.experiment_id, parent_run_id)
    return SweepRecord(
        parent_run_id,
        parent.data.tags.get(SWEEP_TAG, parent.info.run_name or ""),
        dict(parent.data.tags),
        parent.info.start_time,
        parent.info.end_time,
        [_record(client, run) for run in children if not is_confirmation(run)],
        [_record(client, run) for run in children if is_confirmation(run)],
    )


def read_confirmations(uri: str, parent_run_id: str) -> list[TrialRecord]:
    """Only the confirmation runs of a sweep: what the report re-reads after training them."""
    client = tracking_client(uri)
    experiment = client.get_run(parent_run_id).info.experiment_id
    return [
        _record(client, run)
        for run in child_runs(client, experiment, parent_run_id)
        if is_confirmation(run)
    ]


def _record(client: MlflowClient, run) -> TrialRecord:
    """The run with the history of each per-epoch metric (one request per metric: the per-step
    and system metrics, many points each and not read by any report, are left out)."""
    history = {
        key: {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}
        for key in run.data.metrics
        if not key.startswith(SYSTEM_METRIC_PREFIX) and not key.endswith(PER_STEP_SUFFIX)
    }
    return TrialRecord(
        run.info.run_id,
        run.info.status,
        dict(run.data.params),
        dict(run.data.tags),
        history,
        run.info.start_time,
        run.info.end_time,
    )


def delete_runs(uri: str, run_ids: list[str]) -> None:
    """Soft-delete runs (MLflow keeps them restorable), e.g. interrupted confirmation runs that
    are about to be re-run."""
    client = tracking_client(uri)
    for run_id in run_ids:
        client.delete_run(run_id)


def download_artifact(uri: str, run_id: str, path: str, into: str) -> str:
    return tracking_client(uri).download_artifacts(run_id, path, into)


def log_folder(uri: str, run_id: str, folder: str, artifact_path: str) -> None:
    tracking_client(uri).log_artifacts(run_id, folder, artifact_path)


def data_sha256(uri: str, run_id: str) -> dict[str, str]:
    """The sha256 of each data file the sweep logged as a dataset input, by role (train, dev,
    relations): what a verdict and its model were measured on."""
    digests = {}
    for dataset_input in tracking_client(uri).get_run(run_id).inputs.dataset_inputs:
        role = next((t.value for t in dataset_input.tags if t.key == "mlflow.data.context"), "")
        try:
            sha256 = json.loads(dataset_input.dataset.profile or "{}").get("sha256")
        except json.JSONDecodeError:
            sha256 = None
        if role and sha256:
            digests[role] = str(sha256)
    return digests


def experiment_name(uri: str, run_id: str) -> str:
    """The name of the MLflow experiment ``run_id`` belongs to."""
    client = tracking_client(uri)
    return client.get_experiment(client.get_run(run_id).info.experiment_id).name
