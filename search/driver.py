"""The sweep driver behind ``python -m search.run``: the one place Ray Tune is driven.

Order of events (the config is already resolved and checked by ``search.config``) → prepare the
data once → start or join Ray → refuse what cannot work (``search.preflight``) → open the MLflow
parent run (with the split's guids and the data files) → build the Tuner (Optuna TPE over the
define-by-run space, told each trial's best epoch, its study in ``optuna.db``; ASHA on epochs,
every trial on the schedule of the longest; one checkpoint kept per trial) → run, or restore and
resume → send MLflow records trials could not → summarize the best trial per criterion (printed,
``<storage>/<name>/summary.md``, and on the parent run). Trials live in ``trainable/``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from search import preflight
from search import space as search_space
from search.config import SweepConfig
from search.searcher import SelectionScoreOptunaSearch
from search.summary import best_per_criterion, to_markdown, trial_table
from trainable.common.ray_tune import start_ray
from trainable.common.tracking import (
    METRIC_TAG,
    OUTBOX_DIR,
    SweepRun,
    bounded_requests,
    flush_outboxes,
    is_outage,
    probe_server,
)
from trainable.common.yaml_config import ConfigError
from trainable.data import prepare_data
from trainable.train import train_fn

SWEEP_STATE = "sweep.json"  # beside Tune's own state: the parent run and the config hash
OPTUNA_STUDY = "optuna.db"  # the Optuna study, every trial's state and per-epoch values


def run_sweep(config: SweepConfig, *, resume: bool) -> str:
    """Run (or resume) the sweep; return the summary Markdown."""
    experiment_dir = config.storage.path / config.experiment.name
    preflight.check_writable(config.storage.path)
    state = _sweep_state(experiment_dir, config, resume)
    if config.tracking.uri:
        probe_server(config.tracking.uri)  # seconds, before data, Ray or any trial
    settings = config.trial_settings()
    print(f"preparing data from {settings.data.resolved_dir()} ...", flush=True)
    data = prepare_data(settings)  # bad or missing data fails here, before Ray or any run
    print("\n".join(data.notes), flush=True)

    start_ray(config.ray.address)
    preflight.check_resources(config)
    preflight.check_cluster_reach(config)
    sweep = _open_parent_run(config, experiment_dir, state.get("parent_run_id"))
    _write_sweep_state(experiment_dir, config, sweep)
    if sweep is not None and not resume:
        guids = {split: data.splits[split].guids for split in ("train", "selection")}
        sweep.log_data(guids, data.source_files)
    if sweep is not None:
        tracking = settings.tracking.model_copy(update={"parent_run_id": sweep.run_id})
        settings = settings.model_copy(update={"tracking": tracking})

    trainable = tune.with_resources(
        tune.with_parameters(train_fn, settings=settings, data=data),
        {"cpu": config.resources.cpu, "gpu": config.resources.gpu},
    )
    callbacks = [_CloseTrialRuns(sweep)] if sweep is not None else []
    if resume:
        tuner = tune.Tuner.restore(
            str(experiment_dir), trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        tuner = tune.Tuner(
            trainable,
            tune_config=_tune_config(config, experiment_dir),
            run_config=_run_config(config, callbacks),
        )
    results = tuner.fit()
    if results.num_terminated + results.num_errors < config.search.num_samples:
        if sweep is not None:  # Ctrl-C: Tune saved its state and returned early
            _tolerate_outage("marking the interrupted runs KILLED", sweep.interrupt)
        raise KeyboardInterrupt
    disk_bytes = _keep_one_checkpoint_per_trial(results, config, experiment_dir)
    run_ids, tracking_notes = _settle_tracking(sweep, results, experiment_dir)
    summary = _summarize(config, results, disk_bytes, run_ids, tracking_notes)
    (experiment_dir / "summary.md").write_text(summary, encoding="utf-8")
    if sweep is not None:
        failed = all(r.error is not None for r in results)
        _tolerate_outage("closing the parent run", lambda: sweep.finish(summary, failed=failed))
    return summary


def _tune_config(config: SweepConfig, experiment_dir: Path) -> tune.TuneConfig:
    search = config.search
    searcher = SelectionScoreOptunaSearch(
        space=search_space.DefineByRun(search.space),
        metric=search.metric,
        mode=search.mode,
        points_to_evaluate=search.warm_start or None,
        sampler=search_space.tpe_sampler(search.seed),
        storage=search_space.study_storage(experiment_dir / OPTUNA_STUDY),
        study_name=config.experiment.name,
        planned_epochs=config.train.num_train_epochs,
    )
    if search.scheduler.type == "asha":
        scheduler = ASHAScheduler(
            time_attr="epoch",
            max_t=config.max_epochs(),
            grace_period=search.scheduler.grace_period,
            reduction_factor=search.scheduler.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.TuneConfig(
        search_alg=searcher,
        scheduler=scheduler,
        metric=search.metric,
        mode=search.mode,
        num_samples=search.num_samples,
        max_concurrent_trials=search.max_concurrent,
        reuse_actors=True,  # a new trial keeps the process: no torch/transformers re-import
    )


def _run_config(config: SweepConfig, callbacks: list[tune.Callback]) -> tune.RunConfig:
    return tune.RunConfig(
        name=config.experiment.name,
        storage_path=str(config.storage.path),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=1,
            checkpoint_score_attribute=config.search.metric,
            checkpoint_score_order=config.search.mode,
        ),
        failure_config=tune.FailureConfig(max_failures=config.failure.max_retries),
        callbacks=callbacks,
        verbose=1,
    )


class _CloseTrialRuns(tune.Callback):
    """Ends the MLflow run of a trial that Tune stopped or lost before the trial could (e.g.
    with its node). Never fails the sweep: the end of the sweep settles what this could not."""

    def __init__(self, sweep: SweepRun) -> None:
        self.sweep = sweep

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _tolerate_outage("closing a trial's run", lambda: self.sweep.close_child(trial.trial_id))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        message = _error_line(trial.get_error())
        close = lambda: self.sweep.close_child(trial.trial_id, error=message)  # noqa: E731
        _tolerate_outage("closing a trial's run", close)


def _settle_tracking(
    sweep: SweepRun | None, results: tune.ResultGrid, experiment_dir: Path
) -> tuple[dict[str, str], list[str]]:
    """After the sweep: send the records trials kept while MLflow was unreachable, close every
    trial's run, drop runs of forgotten trials. Returns trial id → run id and notes for the
    summary; what MLflow still lacks is said there, never left as a silent gap."""
    if sweep is None:
        return {}, []
    notes = [f"MLflow parent run: {sweep.run_id}"]
    unsent = flush_outboxes(experiment_dir)
    if unsent:
        notes.append(
            f"MLflow has not received {sum(unsent.values())} record(s) of {len(unsent)} "
            f"trial(s) ({', '.join(sorted(unsent))}): the server did not answer. They are kept "
            f"in {experiment_dir / OUTBOX_DIR}; `--resume` sends them once it answers."
        )
    errors = {r.metrics.get("trial_id"): _error_line(r.error) if r.error else None for r in results}
    try:
        with bounded_requests():
            orphans = sweep.drop_orphans(set(errors))
            sweep.close_children(errors)
            run_ids = {trial: run.info.run_id for trial, run in sweep.child_runs().items()}
    except Exception as error:
        if not is_outage(error):
            raise
        notes.append(f"MLflow unreachable at the end of the sweep ({_error_line(error)}).")
        return {}, notes
    if orphans:
        notes.append(
            f"{orphans} MLflow run(s) of trials lost with a killed driver were deleted "
            "(restorable in MLflow); the resumed sweep re-ran those trials."
        )
    return run_ids, notes


def _tolerate_outage(doing: str, call: Callable[[], None]) -> None:
    """Run an MLflow call whose failure must not cost the sweep: warn and go on."""
    try:
        with bounded_requests():
            call()
    except Exception as error:
        if not is_outage(error):
            raise
        print(f"warning: MLflow unreachable while {doing}: {_error_line(error)}", flush=True)


def _error_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[-1][:300] if text else "trial errored"


def _keep_one_checkpoint_per_trial(
    results: tune.ResultGrid, config: SweepConfig, experiment_dir: Path
) -> int:
    """Delete every checkpoint but the best of each finished trial (Tune also keeps the latest
    for fault tolerance); an errored trial keeps its latest, which ``--resume`` restarts from.
    Folders of trials the sweep no longer knows (started just before a killed driver's last
    state save, re-run after resume) go too. Returns the sweep folder's size in bytes."""
    known = {Path(result.path) for result in results if result.path}
    if known and all(path.parent == experiment_dir for path in known):  # never on a path mismatch
        for folder in experiment_dir.glob("train_fn_*"):
            if folder.is_dir() and folder not in known:
                shutil.rmtree(folder, ignore_errors=True)
    for result in results:
        if result.error is not None or not result.path or not result.best_checkpoints:
            continue  # nothing registered (e.g. stopped between report and persist): keep all
        best = result.get_best_checkpoint(config.search.metric, config.search.mode)
        for folder in Path(result.path).glob("checkpoint_*"):
            if best is not None and Path(best.path) != folder:
                shutil.rmtree(folder, ignore_errors=True)
    return sum(f.stat().st_size for f in experiment_dir.rglob("*") if f.is_file())


def _summarize(
    config: SweepConfig,
    results: tune.ResultGrid,
    disk_bytes: int,
    run_ids: dict[str, str],
    tracking_notes: list[str],
) -> str:
    search = config.search
    per_trial = results.get_dataframe(filter_metric=search.metric, filter_mode=search.mode)
    trials = trial_table(per_trial, config.criterion.name, run_ids, search.metric)
    errored = [r for r in results if r.error is not None]
    errored_ids = {r.metrics.get("trial_id") for r in errored}
    best = best_per_criterion(trials[~trials["trial_id"].isin(errored_ids)], search.metric)
    notes = [
        f"{len(results)} trials: {len(results) - len(errored)} finished or stopped early, "
        f"{len(errored)} errored (never ranked). Selected on `{search.metric}` (selection "
        "split); `dev_` columns are KLUE dev, reported only.",
        "Each trial is one training seed, so this ranking is not confirmed: `python -m "
        "search.report` re-trains the top criteria over seeds and says how sure it is.",
        *(f"Errored: trial {r.metrics.get('trial_id')}: {_error_line(r.error)}" for r in errored),
        f"Ray results: {config.storage.path / config.experiment.name} "
        f"({disk_bytes / 2**20:.1f} MiB; one checkpoint kept per trial)",
        *tracking_notes,
    ]
    return to_markdown(best, f"Best trial per criterion — {config.experiment.name}", notes)


# ---------------------------------------------------------------- setup helpers
def _sweep_state(experiment_dir: Path, config: SweepConfig, resume: bool) -> dict[str, Any]:
    state_file = experiment_dir / SWEEP_STATE
    exists = tune.Tuner.can_restore(str(experiment_dir))
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
    if state.get("config_hash") != config.config_hash():
        raise ConfigError(
            "--resume",
            ["the config changed since the sweep started; resume with the same config and --set"],
        )
    return state


def _open_parent_run(
    config: SweepConfig, experiment_dir: Path, run_id: str | None
) -> SweepRun | None:
    if not config.tracking.uri:
        return None
    tags = {
        "sweep.config_hash": config.config_hash(),
        "ray.experiment_path": str(experiment_dir),
        METRIC_TAG: config.search.metric,
    }
    return SweepRun.open(config.tracking, config.experiment.name, tags, run_id=run_id)


def _write_sweep_state(experiment_dir: Path, config: SweepConfig, sweep: SweepRun | None) -> None:
    experiment_dir.mkdir(parents=True, exist_ok=True)
    state = {"config_hash": config.config_hash(), "parent_run_id": sweep.run_id if sweep else None}
    (experiment_dir / SWEEP_STATE).write_text(json.dumps(state, indent=2), encoding="utf-8")
