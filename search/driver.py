"""The sweep driver behind ``python -m search.run``.

Order of events (the config is already resolved and checked by ``search.config``, a hub model
already probed by ``search.run``): refuse what cannot work early (storage, resume state, MLflow)
→ prepare the data once (fetching KLUE first when no folder is named) → start or join Ray and
refuse what the cluster cannot run (``search.preflight``) → open the MLflow parent run
(``search.tracking.sweep_tracking``) → run the Tuner (Optuna over the define-by-run space, ASHA on
epochs; ``search.searcher``), or restore and resume it → no checkpoint left once trials end →
settle MLflow and the Optuna study (trials a killed driver forgot) → summarize the best trial per
criterion (printed, ``<storage>/<name>/summary.md`` and on the parent run). What one trial does
lives in ``trainable/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from search import preflight, ray_tune, searcher
from search.config import SweepConfig
from search.summary import summarize
from search.sweep_state import SweepState, check_start
from search.tracking.sweep_tracking import NullSweepTracking, SweepTracking
from trainable.common.settings import TrialSettings
from trainable.data import PreparedData, prepare_data_verbose
from trainable.hooks import TrialHook
from trainable.train import train_fn


def run_sweep(config: SweepConfig, *, resume: bool, hooks: Sequence[TrialHook] = ()) -> str:
    """Run (or resume) the sweep; return the summary Markdown. Raises
    ``ray_tune.FitInterrupted`` when interrupted (finished trials are kept)."""
    experiment_dir = config.storage.path / config.experiment.name
    state = _check_before_work(config, experiment_dir, resume)
    settings, data = _prepare_data(config)
    ray_tune.start_ray(config.ray.address)
    preflight.check_cluster(config)
    tracking = _open_tracking(config, experiment_dir, state.parent_run_id if state else None)
    if not resume:
        tracking.log_data(
            {split: data.splits[split].guids for split in ("train", "selection")},
            data.source_files,
        )
    shared = {"settings": tracking.with_parent_run(settings), "data": data, "hooks": list(hooks)}
    try:
        results = ray_tune.fit(
            _tuner(config, experiment_dir, shared, tracking, resume), config.search.num_samples
        )
    except ray_tune.FitInterrupted:
        tracking.interrupt()  # parent and unfinished trial runs: KILLED, reopened by --resume
        raise
    disk_bytes = _drop_forgotten_trials(results, experiment_dir)
    searcher.fail_forgotten_trials(config, experiment_dir)
    run_ids, tracking_notes = tracking.settle(results, experiment_dir)
    summary = summarize(config, results, disk_bytes, run_ids, tracking_notes)
    (experiment_dir / "summary.md").write_text(summary.markdown, encoding="utf-8")
    failed = all(r.error is not None for r in results)
    tracking.finish(summary.markdown, summary.best_scores, failed=failed)
    return summary.markdown


def _check_before_work(
    config: SweepConfig, experiment_dir: Path, resume: bool
) -> SweepState | None:
    """Refusals that cost seconds, before data, Ray or any trial; the saved state on resume."""
    preflight.check_writable(config.storage.path)
    state = check_start(config, experiment_dir, resume)
    preflight.check_tracking(config)
    return state


def _prepare_data(config: SweepConfig) -> tuple[TrialSettings, PreparedData]:
    settings = config.sweep_trial_settings()
    return settings, prepare_data_verbose(settings)  # bad data fails here, before Ray or a run


def _open_tracking(
    config: SweepConfig, experiment_dir: Path, run_id: str | None
) -> NullSweepTracking:
    """The MLflow parent run (reopened on resume), recorded in ``sweep.json`` with the config."""
    tracking = (
        SweepTracking.open(config, experiment_dir, run_id)
        if config.tracking.uri
        else NullSweepTracking()
    )
    SweepState.of(config, tracking.run_id).write(experiment_dir)
    return tracking


def _tuner(
    config: SweepConfig,
    experiment_dir: Path,
    shared: dict[str, Any],
    tracking: NullSweepTracking,
    resume: bool,
):
    if resume:  # a larger search.num_samples than saved extends the sweep (search.sweep_state)
        return ray_tune.restore_tuner(
            experiment_dir,
            train_fn,
            shared,
            _resources(config),
            num_samples=config.search.num_samples,
        )
    callbacks = [*tracking.callbacks(), ray_tune.Progress("sweep")]
    return sweep_tuner(config, experiment_dir, shared, callbacks=callbacks)


def sweep_tuner(
    config: SweepConfig,
    experiment_dir: Path,
    shared: dict[str, Any],
    *,
    callbacks: Sequence[Any] = (),
    sampler: Any = None,
    stop: Any = None,
    num_samples: int | None = None,
):
    """A new sweep's Tuner: ``train_fn`` under Optuna (``search.searcher``) and the configured
    scheduler. ``bench/search_efficiency.py`` builds its runs here too, so it measures the sweep
    as it runs: it swaps the ``sampler``, ``stop``s at a compute budget and allows more trials
    (``num_samples``) than the config's, which still sizes TPE's random start."""
    search = config.search
    return ray_tune.build_tuner(
        train_fn,
        shared,
        _resources(config),
        name=config.experiment.name,
        storage_path=config.storage.path,
        metric=search.metric,
        num_samples=num_samples or search.num_samples,  # the searcher limits concurrency
        search_alg=searcher.build_searcher(config, experiment_dir, sampler),
        scheduler=searcher.build_scheduler(config),
        max_failures=config.failure.max_retries,
        callbacks=list(callbacks),
        reuse_actors=True,
        stop=stop,
    )


def _resources(config: SweepConfig) -> dict[str, float]:
    return {"cpu": config.resources.cpu, "gpu": config.resources.gpu}


def _drop_forgotten_trials(results: Any, experiment_dir: Path) -> int:
    """Delete folders of trials the sweep no longer knows (started just before a killed
    driver's last state save, re-run after resume); ``ray_tune.fit`` already deleted every ended
    trial's checkpoints. Returns the sweep folder's size in bytes."""
    known = {Path(result.path) for result in results if result.path}
    if known and all(path.parent == experiment_dir for path in known):  # never on a path mismatch
        for folder in experiment_dir.glob(f"{ray_tune.TRIAL_FOLDER_PREFIX}*"):
            if folder.is_dir() and folder not in known:
                shutil.rmtree(folder, ignore_errors=True)
    return sum(f.stat().st_size for f in experiment_dir.rglob("*") if f.is_file())
