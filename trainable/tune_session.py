"""What a trial asks Ray Tune, wrapped in one place: its identity, folder and CPU budget,
reporting an epoch with its checkpoint, and the checkpoint it resumes from.

Current APIs only: ``ray.tune.report`` / ``ray.tune.get_checkpoint`` / ``ray.tune.Checkpoint``
inside the function trainable; never ``ray.train.report`` or ``ray.air``. The driver's side
(building and running the Tuner) is ``search.ray_tune``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import ray
from ray import tune


def trial_id() -> str:
    return tune.get_context().get_trial_id()


def node_id() -> str:
    """The Ray node this process runs on (several nodes may share one IP address)."""
    return ray.get_runtime_context().get_node_id()


def trial_dir() -> Path:
    """This trial's own local folder (also when Tune reuses one process for several trials)."""
    return Path(tune.get_context().get_trial_dir())


def cpu_budget() -> int:
    """Whole CPUs Tune reserved for this trial (at least 1): the torch thread count to use."""
    resources = tune.get_context().get_trial_resources()
    cpus = sum(bundle.get("CPU", 0) for bundle in resources.bundles) if resources else 0
    return max(1, int(cpus))


def report(metrics: dict[str, Any], checkpoint_dir: Path) -> None:
    """Report one epoch; Tune persists the checkpoint folder to the run's storage."""
    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))


def restored_checkpoint(into: Path) -> Path | None:
    """The checkpoint this trial resumes from (after a failure or a restore), copied to ``into``."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    if into.exists():
        shutil.rmtree(into)
    return Path(checkpoint.to_directory(str(into)))
