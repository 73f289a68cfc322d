"""MLflow, wrapped in one place: a parent run per sweep, a child run per trial, reading back.

Ray's ``MLflowLoggerCallback`` has no parent run and duplicates runs after a restore,
so each trial opens its own run under the sweep's parent (tag ``mlflow.parentRunId``) and tags it
``ray.trial_id``; a restarted trial looks that tag up and continues the same run. ``MlflowClient``
is used, not the fluent API, so nothing depends on process-global "active run" state.

- ``client``: tag names, the reachability probe, bounded retries, the child-run query.
- ``lifecycle``: the one writer of a run's status (RUNNING, FINISHED, FAILED, KILLED).
- ``outbox`` and ``trial_run``: what a trial logs, kept in an outbox file during outages.
- ``system_metrics``: MLflow's CPU/memory/GPU monitor on a trial's run while it trains.
- ``sweep_run``: the driver's parent run; closes runs of trials Tune ended.
- ``reading``: the report's view of a finished sweep.
- ``registry``: the chosen model in MLflow's Model Registry, and loading it back.
"""

from trainable.common.tracking.client import (
    CONFIRMATION_STAGE,
    CONFIRMS_TAG,
    METRIC_TAG,
    NODE_TAG,
    SEARCH_ARTIFACT,
    SEARCHED_TAG,
    SEED_TAG,
    STAGE_TAG,
    TRIAL_ID_TAG,
    TrackingError,
    bounded_requests,
    is_outage,
    probe_server,
)
from trainable.common.tracking.lifecycle import FAILED, FINISHED, STOPPED_EARLY_TAG, RunEnd
from trainable.common.tracking.reading import (
    SweepRecord,
    TrialRecord,
    data_sha256,
    delete_runs,
    download_artifact,
    experiment_name,
    find_sweep_run,
    log_folder,
    newest_run_tagged,
    read_confirmations,
    read_sweep,
)
from trainable.common.tracking.registry import (
    CHAMPION_ALIAS,
    RegisteredVersion,
    load_registered_model,
    register_relation_model,
)
from trainable.common.tracking.sweep_run import SweepDescription, SweepRun
from trainable.common.tracking.system_metrics import monitor_system
from trainable.common.tracking.trial_run import (
    OUTBOX_DIR,
    NullTrialRun,
    TrialRun,
    flush_outboxes,
    open_trial_run,
)

__all__ = [
    "CHAMPION_ALIAS",
    "CONFIRMATION_STAGE",
    "CONFIRMS_TAG",
    "FAILED",
    "FINISHED",
    "METRIC_TAG",
    "NODE_TAG",
    "OUTBOX_DIR",
    "SEARCHED_TAG",
    "SEARCH_ARTIFACT",
    "SEED_TAG",
    "STAGE_TAG",
    "STOPPED_EARLY_TAG",
    "TRIAL_ID_TAG",
    "NullTrialRun",
    "RegisteredVersion",
    "RunEnd",
    "SweepDescription",
    "SweepRecord",
    "SweepRun",
    "TrackingError",
    "TrialRecord",
    "TrialRun",
    "bounded_requests",
    "data_sha256",
    "delete_runs",
    "download_artifact",
    "experiment_name",
    "find_sweep_run",
    "flush_outboxes",
    "is_outage",
    "load_registered_model",
    "log_folder",
    "monitor_system",
    "newest_run_tagged",
    "open_trial_run",
    "probe_server",
    "read_confirmations",
    "read_sweep",
    "register_relation_model",
]
