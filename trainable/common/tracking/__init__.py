"""MLflow, as the trial and the driver both use it: the client (which redacts what it writes),
tag names, the reachability probe, bounded retries, and the one writer of a run's status.

``MlflowClient`` is used, not the fluent API, so nothing depends on process-global "active run"
state. What a trial logs is ``trainable.tracking``; the sweep's parent run and reading a sweep
back are the driver's, ``search.tracking``.
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

__all__ = [
    "CONFIRMATION_STAGE",
    "CONFIRMS_TAG",
    "FAILED",
    "FINISHED",
    "METRIC_TAG",
    "NODE_TAG",
    "SEARCHED_TAG",
    "SEARCH_ARTIFACT",
    "SEED_TAG",
    "STAGE_TAG",
    "STOPPED_EARLY_TAG",
    "TRIAL_ID_TAG",
    "RunEnd",
    "TrackingError",
    "bounded_requests",
    "is_outage",
    "probe_server",
]
