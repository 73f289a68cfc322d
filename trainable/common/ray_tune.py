"""The trial side's one adapter around Ray Tune: report, resume, identity, and a 1-trial run.

Current APIs only: ``ray.tune.report`` / ``ray.tune.get_checkpoint`` /
``ray.tune.Checkpoint`` inside the function trainable, never ``ray.train.report`` or ``ray.air``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune

from trainable.common.directions import direction

# Keep Ray on loopback for local runs: with this set every Ray address is 127.0.0.1 (checked
# with Ray 2.60 on Linux; by default Ray binds to the network address even for ray.init()).
# Must be in the environment before ray.init starts Ray.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def trial_id() -> str:
    return tune.get_context().get_trial_id()


def trial_name() -> str:
    return tune.get_context().get_trial_name()


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


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local Ray bound to 127.0.0.1 (once)."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address)
        return
    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    ray.init(num_cpus=num_cpus, include_dashboard=False)


def run_single_trial(
    trainable: Callable[..., None],
    config: dict[str, Any],
    *,
    name: str,
    storage_path: Path,
    metric: str,
    max_failures: int = 0,
    **shared: Any,
) -> tune.ResultGrid:
    """Run ``trainable`` once, in-process, on a local loopback Ray (the standalone entry).

    ``max_failures`` retries a failed trial from its latest checkpoint (Tune always keeps the
    latest one besides the best)."""
    cpus = os.cpu_count() or 1
    start_ray(num_cpus=cpus)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, **shared), {"cpu": cpus}),
        param_space=config,
        tune_config=tune.TuneConfig(metric=metric, mode=direction(metric), num_samples=1),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(storage_path),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=1,
                checkpoint_score_attribute=metric,
                checkpoint_score_order=direction(metric),
            ),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            verbose=1,
        ),
    )
    return tuner.fit()
