"""The sweep driver behind ``python -m search.run``.

Order of events (the config is already resolved and checked by ``search.config``, a hub model
already probed by ``search.run``): refuse what cannot work early (storage, resume state, MLflow)
→ prepare the data once (fetching KLUE first when no folder is named) → start or join Ray and
refuse what the cluster cannot run (``search.preflight``) → open the MLflow parent run
(``search.sweep_tracking``) → run the Tuner (Optuna over the define-by-run space, ASHA on
epochs; ``search.searcher``), or restore and resume it → no checkpoint left once trials end →
settle MLflow and the Optuna study (trials a killed driver forgot) → summarize the best trial per
criterion (printed, ``<storage>/<name>/summary.md`` and on the parent run). What one trial does
lives in ``trainable/``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from search import preflight, searcher
from search.config import TRAININGS_FOLDER, SweepConfig, changed_keys
from search.summary import summarize
from search.sweep_tracking import NullSweepTracking, SweepTracking
from trainable.common import ray_tune
from trainable.common.settings import TrialSettings
from trainable.common.yaml_config import ConfigError
from trainable.data import PreparedData, prepare_data
from trainable.hooks import TrialHook
from trainable.train import train_fn

SWEEP_STATE = "sweep.json"  # beside Tune's own state: parent run, resumed config, trial count


def run_sweep(config: SweepConfig, *, resume: bool, hooks: Sequence[TrialHook] = ()) -> str:
    """Run (or resume) the sweep; return the summary Markdown. Raises
    ``ray_tune.FitInterrupted`` when interrupted (finished trials are kept)."""
    experiment_dir = config.storage.path / config.experiment.name
    state = _check_before_work(config, experiment_dir, resume)
    settings, data = _prepare_data(config)
    ray_tune.start_ray(config.ray.address)
    preflight.check_cluster(config)
    tracking = _open_tracking(config, experiment_dir, state.get("parent_run_id"))
    if not resume:
        tracking.log_data(
            {split: data.splits[split].guids for split in ("train", "selection")},
            data.source_files,
        )
    shared = {"settings": tracking.trial_settings(settings), "data": data, "hooks": list(hooks)}
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


def _check_before_work(config: SweepConfig, experiment_dir: Path, resume: bool) -> dict[str, Any]:
    """Refusals that cost seconds, before data, Ray or any trial; the saved sweep state."""
    preflight.check_writable(config.storage.path)
    state = _sweep_state(experiment_dir, config, resume)
    preflight.check_tracking(config)
    return state


def _prepare_data(config: SweepConfig) -> tuple[TrialSettings, PreparedData]:
    settings = config.trial_settings()
    print(f"preparing data from {settings.data.resolved_dir()} ...", flush=True)
    data = prepare_data(settings)  # bad or missing data fails here, before Ray or any run
    print("\n".join(data.notes), flush=True)
    return settings, data


def _open_tracking(
    config: SweepConfig, experiment_dir: Path, run_id: str | None
) -> NullSweepTracking:
    tracking = (
        SweepTracking.open(config, experiment_dir, run_id)
        if config.tracking.uri
        else NullSweepTracking()
    )
    experiment_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "resume_hash": config.resume_hash(),
        "resume_fields": config.resume_fields(),  # names what changed on a refused --resume
        "num_samples": config.search.num_samples,
        "parent_run_id": tracking.run_id,
    }
    (experiment_dir / SWEEP_STATE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return tracking


def _tuner(
    config: SweepConfig,
    experiment_dir: Path,
    shared: dict[str, Any],
    tracking: NullSweepTracking,
    resume: bool,
):
    if resume:  # a larger search.num_samples than saved extends the sweep (_sweep_state)
        return ray_tune.restore_tuner(
            experiment_dir, train_fn, shared, _resources(config),
            num_samples=config.search.num_samples,
        )  # fmt: skip
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
        train_fn, shared, _resources(config),
        name=config.experiment.name, storage_path=config.storage.path, metric=search.metric,
        num_samples=num_samples or search.num_samples,  # the searcher limits concurrency
        search_alg=searcher.build_searcher(config, experiment_dir, sampler),
        scheduler=searcher.build_scheduler(config),
        max_failures=config.failure.max_retries,
        callbacks=list(callbacks),
        reuse_actors=True,
        stop=stop,
    )  # fmt: skip


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


def _sweep_state(experiment_dir: Path, config: SweepConfig, resume: bool) -> dict[str, Any]:
    if config.experiment.name == TRAININGS_FOLDER:
        raise ConfigError(
            "experiment.name",
            [f"{TRAININGS_FOLDER!r} is the folder of single trainings (search.trial) under "
             "storage.path; choose another name"],
        )  # fmt: skip
    state_file = experiment_dir / SWEEP_STATE
    exists = ray_tune.can_restore(experiment_dir)
    if exists and not state_file.is_file():  # every sweep writes it before Tune's first state
        raise ConfigError(
            "experiment.name",
            [f"{experiment_dir} holds a single training (search.trial) or another Tune run, not "
             "a sweep: it cannot be resumed or extended; choose another name"],
        )  # fmt: skip
    if resume and not exists:
        raise ConfigError("--resume", [f"no sweep to resume at {experiment_dir}"])
    if not resume and exists:
        raise ConfigError(
            "experiment.name",
            [f"{experiment_dir} already holds a sweep: add --resume or choose another name"],
        )
    if not resume or not state_file.is_file():
        return {}
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if "resume_hash" not in state:  # its Tune state names modules that have since moved
        raise ConfigError(
            "--resume",
            [f"{experiment_dir} was started by an older version of this service and cannot "
             "be resumed; start a new sweep (another experiment.name)"],
        )  # fmt: skip
    if state["resume_hash"] != config.resume_hash():
        changed = changed_keys(state.get("resume_fields", {}), config.resume_fields())
        named = f" ({', '.join(changed)})" if "resume_fields" in state and changed else ""
        raise ConfigError(
            "--resume",
            [f"the config changed since the sweep started{named}; resume with the same config "
             "and --set"],
        )  # fmt: skip
    had = state.get("num_samples", config.search.num_samples)
    if config.search.num_samples < had:
        raise ConfigError(
            "search.num_samples",
            [
                f"{config.search.num_samples} is fewer than the {had} trials this sweep has; "
                f"--resume takes {had} (continue) or more (add trials)"
            ],
        )
    return state
