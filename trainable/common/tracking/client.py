"""What every MLflow caller here shares: the client (which redacts what it writes), tag names,
the reachability probe, bounded retries."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow.entities import Param, RunTag
from mlflow.exceptions import RestException
from mlflow.tracking import MlflowClient

from trainable.common.cli import InputError
from trainable.common.redact import redact

TRIAL_ID_TAG = "ray.trial_id"
NODE_TAG = "ray.node_id"
SWEEP_TAG = "sweep.name"
METRIC_TAG = "sweep.metric"  # what the sweep selected on, so the report ranks by the same
SEARCHED_TAG = "sweep.searched"  # the searched names, comma-separated: the report's columns
SEARCH_ARTIFACT = "search.yaml"  # the sweep's search section (space, warm start), on its run
PARENT_TAG = "mlflow.parentRunId"
# A confirmation run re-trains a sweep trial's configuration with another seed; it is a child of
# the sweep's parent run too, told apart from the trials by these tags.
STAGE_TAG = "stage"
CONFIRMATION_STAGE = "confirmation"
SEED_TAG = "seed"
CONFIRMS_TAG = "confirmation.of"  # the run id of the sweep trial it re-trains


class RedactingClient(MlflowClient):
    """``MlflowClient`` whose text writes (params, tags, notes, run names, text artifacts) pass
    through ``redact``: every MLflow user may read them, so no credential may reach them."""

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        super().log_text(run_id, redact(text), artifact_file)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().set_tag(run_id, key, redact(str(value)), synchronous=synchronous)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().log_param(run_id, key, redact(str(value)), synchronous=synchronous)

    def log_batch(
        self,
        run_id: str,
        metrics: Any = (),
        params: Any = (),
        tags: Any = (),
        synchronous: bool | None = None,
    ) -> Any:
        params = [Param(p.key, redact(str(p.value))) for p in params]
        tags = [RunTag(t.key, redact(str(t.value))) for t in tags]
        return super().log_batch(run_id, metrics, params, tags, synchronous=synchronous)

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Any:
        tags = {key: redact(str(value)) for key, value in (tags or {}).items()}
        name = redact(run_name) if run_name else run_name
        return super().create_run(experiment_id, start_time, tags, name)


def tracking_client(uri: str) -> MlflowClient:
    """The one way this project talks to MLflow."""
    return RedactingClient(tracking_uri=uri)


class TrackingError(InputError, RuntimeError):
    """The MLflow tracking server cannot be used (message names the URI and the cause)."""


def probe_server(uri: str) -> None:
    """Raise ``TrackingError`` in seconds when ``uri`` cannot be used (one request, no retries:
    MLflow's HTTP client otherwise retries with backoff for minutes)."""
    try:
        with bounded_requests(max_retries=0, timeout_s=10):
            tracking_client(uri).search_experiments(max_results=1)
    except Exception as error:
        raise unusable(uri, error) from None


def probe_store(uri: str, source: str) -> None:
    """``probe_server`` for a reader of an existing store: a SQLite file that is not there is a
    mistyped path (MLflow would create an empty store in its place). ``source`` names where
    the URI came from (``--tracking-uri``, ``tracking.uri``)."""
    sqlite = "sqlite:///"
    if uri.startswith(sqlite):
        path = Path(uri.removeprefix(sqlite).split("?")[0]).resolve()
        if not path.is_file():
            raise TrackingError(
                f"{source}: {path} does not exist (a sweep's store is where it ran)"
            )
    probe_server(uri)


def unusable(uri: str, error: Exception) -> TrackingError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return TrackingError(
        redact(
            f"tracking.uri={uri!r}: MLflow is not usable "
            f"({type(error).__name__}: {first_line[:300]})"
        )
    )


def is_outage(error: Exception) -> bool:
    """A transport or store failure worth retrying later, not an answer refusing the request
    (MLflow raises ``RestException`` only for a server's structured error reply)."""
    return not isinstance(error, RestException)


@contextlib.contextmanager
def bounded_requests(max_retries: int = 2, timeout_s: int = 10) -> Iterator[None]:
    """Cap MLflow's HTTP retries for the calls inside (MLflow reads these per request;
    its defaults, 7 retries with exponential backoff, block a caller for minutes). The default
    is a few seconds per call during an outage, so a trial or the driver goes on."""
    bounded = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # waits 1 s, 2 s, ... between retries
    }
    saved = {key: os.environ.get(key) for key in bounded}
    os.environ.update(bounded)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def experiment_id(client: MlflowClient, experiment: str, parent_run_id: str | None) -> str:
    """The experiment of the parent run, else the named one (created when missing)."""
    if parent_run_id:
        return client.get_run(parent_run_id).info.experiment_id
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(experiment)


def child_runs(client: MlflowClient, experiment: str, parent_run_id: str) -> list[Any]:
    """Every run under ``parent_run_id``: the sweep's trials and the report's confirmations."""
    return client.search_runs(
        [experiment], f"tags.`{PARENT_TAG}` = '{parent_run_id}'", max_results=10_000
    )


def is_confirmation(run: Any) -> bool:
    return run.data.tags.get(STAGE_TAG) == CONFIRMATION_STAGE
