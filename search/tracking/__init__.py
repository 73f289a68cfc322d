"""The sweep's MLflow side, on the driver.

- ``sweep_run``: the sweep's parent run; closes runs of trials Tune ended.
- ``sweep_tracking``: the driver's use of it during a sweep (tracking off: a null object).
- ``reading``: a finished sweep read back, for the report and ``search.compare``.
- ``registry``: the chosen model in MLflow's Model Registry, and loading it back.
"""

from search.tracking.reading import (
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
from search.tracking.registry import (
    CHAMPION_ALIAS,
    RegisteredVersion,
    champion_again,
    load_registered_model,
    register_relation_model,
)
from search.tracking.sweep_run import SweepDescription, SweepRun

__all__ = [
    "CHAMPION_ALIAS",
    "RegisteredVersion",
    "SweepDescription",
    "SweepRecord",
    "SweepRun",
    "TrialRecord",
    "champion_again",
    "data_sha256",
    "delete_runs",
    "download_artifact",
    "experiment_name",
    "find_sweep_run",
    "load_registered_model",
    "log_folder",
    "newest_run_tagged",
    "read_confirmations",
    "read_sweep",
    "register_relation_model",
]
