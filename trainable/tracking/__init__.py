"""A trial's MLflow run: a child of the sweep's parent run (tag ``mlflow.parentRunId``), tagged
``ray.trial_id`` so that a restarted trial continues the same run.

Ray's ``MLflowLoggerCallback`` has no parent run and duplicates runs after a restore, hence our
own. What cannot reach MLflow during an outage waits in an outbox file.

- ``trial_run``: what a trial logs, each epoch once.
- ``outbox``: the records kept during an outage, sent when MLflow answers again.
- ``system_metrics``: MLflow's CPU/memory/GPU monitor on the run while the trial trains.
"""

from trainable.tracking.system_metrics import monitor_system
from trainable.tracking.trial_run import (
    OUTBOX_DIR,
    NullTrialRun,
    TrialRun,
    flush_outboxes,
    open_trial_run,
)

__all__ = [
    "OUTBOX_DIR",
    "NullTrialRun",
    "TrialRun",
    "flush_outboxes",
    "monitor_system",
    "open_trial_run",
]
