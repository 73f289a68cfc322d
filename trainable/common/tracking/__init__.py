"""The one adapter around MLflow: a parent run per sweep, a child run per trial, and reading back.

Ray's ``MLflowLoggerCallback`` has no parent run and duplicates runs after a restore,
so each trial opens its own run under the sweep's parent (tag ``mlflow.parentRunId``) and tags it
``ray.trial_id``; a restarted trial looks that tag up and continues the same run. ``MlflowClient``
is used, not the fluent API, so nothing depends on process-global "active run" state.

- ``trial_run``: what a trial logs; buffered in an outbox file while the server is unreachable.
- ``sweep_run``: the driver's parent run; closes runs of trials Tune ended.
- ``reading``: the report's view of a finished sweep.
"""

from trainable.common.tracking.client import (
    CONFIRMATION_STAGE,
    CONFIRMS_TAG,
    METRIC_TAG,
    NODE_TAG,
    SEED_TAG,
    STAGE_TAG,
    TrackingError,
    bounded_requests,
    is_outage,
    probe_server,
)
from trainable.common.tracking.reading import (
    SweepRecord,
    TrialRecord,
    delete_runs,
    download_artifact,
    find_sweep_run,
    log_folder,
    read_confirmations,
    read_sweep,
)
from trainable.common.tracking.sweep_run import SweepRun
from trainable.common.tracking.trial_run import OUTBOX_DIR, TrialRun, flush_outboxes

__all__ = [
    "CONFIRMATION_STAGE",
    "CONFIRMS_TAG",
    "METRIC_TAG",
    "NODE_TAG",
    "OUTBOX_DIR",
    "SEED_TAG",
    "STAGE_TAG",
    "SweepRecord",
    "SweepRun",
    "TrackingError",
    "TrialRecord",
    "TrialRun",
    "bounded_requests",
    "delete_runs",
    "download_artifact",
    "find_sweep_run",
    "flush_outboxes",
    "is_outage",
    "log_folder",
    "probe_server",
    "read_confirmations",
    "read_sweep",
]
