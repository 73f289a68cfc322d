"""Optuna as Tune's search algorithm (told the score the report ranks by) and ASHA as its
scheduler.

Tune's automatic space conversion rejects conditional spaces (``gamma`` exists only for focal),
so the space compiles to a define-by-run function that only declares (no data, no I/O), as
Ray's Optuna example requires (``search.optuna_space``, which the report shares). Kept apart
from ``search.space``, which must stay light for ``--dry-run``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
from ray.tune.result import TRAINING_ITERATION
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from search.config import SweepConfig
from search.optuna_space import DefineByRun
from trainable.common.directions import is_better

OPTUNA_STUDY = "optuna.db"  # beside the sweep: every trial's state and per-epoch values
# Trials sampled at random before TPE models the results (the warm-start points count among
# them): a third of the sweep within these bounds. Optuna's fixed 10 left a sweep of 10 trials
# or fewer (the quickstart's 8) all random; from 30 trials on it is still 10 (production: 10
# of 48). bench/search_efficiency.py measures it (bench/README.md, "Search efficiency").
STARTUP_FLOOR, STARTUP_CAP = 3, 10


def build_searcher(
    config: SweepConfig, experiment_dir: Path, sampler: optuna.samplers.BaseSampler | None = None
) -> ResumeAwareLimiter:
    """TPE over the define-by-run space, warm-started, its study in ``optuna.db``, suggesting
    ``search.max_concurrent`` trials at a time. ``sampler`` replaces TPE (the search-efficiency
    bench runs random search through the same searcher)."""
    search = config.search
    optuna_search = SelectionScoreOptunaSearch(
        space=DefineByRun(search.space),
        metric=search.metric,
        mode=search.mode,
        points_to_evaluate=search.warm_start or None,
        sampler=sampler or sweep_sampler(config),
        storage=study_storage(experiment_dir / OPTUNA_STUDY),
        study_name=config.experiment.name,
        planned_epochs=config.train.num_train_epochs,
    )
    return ResumeAwareLimiter(optuna_search, max_concurrent=search.max_concurrent)


def build_scheduler(config: SweepConfig) -> TrialScheduler:
    """ASHA on epochs (``max_t``: the longest trial), or every trial to its end."""
    scheduler = config.search.scheduler
    if scheduler.type != "asha":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="epoch",
        max_t=config.max_epochs(),
        grace_period=scheduler.grace_period,
        reduction_factor=scheduler.reduction_factor,
    )


def sweep_sampler(config: SweepConfig) -> optuna.samplers.TPESampler:
    """TPE as the sweep runs it: startup scaled to ``num_samples``, the constant liar on when
    trials run side by side."""
    search = config.search
    return tpe_sampler(
        search.seed,
        startup_trials=startup_trials(search.num_samples),
        constant_liar=search.max_concurrent > 1,
    )


def startup_trials(num_samples: int) -> int:
    """How many trials are sampled at random before TPE models the results: about a third of
    the sweep, at least ``STARTUP_FLOOR`` and at most ``STARTUP_CAP`` (Optuna's default)."""
    return min(STARTUP_CAP, max(STARTUP_FLOOR, num_samples // 3))


def tpe_sampler(
    seed: int, *, startup_trials: int = STARTUP_CAP, constant_liar: bool = False
) -> optuna.samplers.TPESampler:
    """TPE with grouped multivariate modelling: Optuna's mode for conditional spaces.

    ``constant_liar`` counts trials still running as bad results, so concurrent trials are not
    sampled next to each other; set explicitly because Optuna's default changed between major
    versions (on in Optuna 5, off before)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=True,
            n_startup_trials=startup_trials,
            constant_liar=constant_liar,
        )


def study_storage(path: Path) -> optuna.storages.BaseStorage:
    """The study in a SQLite file beside the sweep, so every trial's state (COMPLETE, PRUNED,
    FAIL), value and per-epoch intermediate values outlive the driver and can be inspected."""
    return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")


def fail_forgotten_trials(config: SweepConfig, experiment_dir: Path) -> int:
    """Tell Optuna FAIL for its trials still RUNNING once every Tune trial has ended: trials a
    killed driver suggested after Tune's last state save, which the resumed sweep never heard
    of (their MLflow runs are dropped as orphans, ``search.tracking.sweep_tracking``). Returns
    how many."""
    study = optuna.load_study(
        study_name=config.experiment.name, storage=study_storage(experiment_dir / OPTUNA_STUDY)
    )
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    return len(running)


class SelectionScoreOptunaSearch(OptunaSearch):
    """Tells Optuna what the report ranks by: each trial's best-epoch selection score.

    Ray's ``OptunaSearch`` tells Optuna a trial's last result instead of its best epoch, records
    a trial the scheduler cut as COMPLETE with its rung score, and an errored trial as COMPLETE
    with its last score whenever it reported one. Here a finished trial is COMPLETE with its best
    epoch's score, a cut trial is PRUNED (Optuna keeps its per-epoch intermediate values, which
    TPE ranks below complete trials), and an errored one FAILED, so TPE never learns from it.

    ``--resume`` resumes an errored trial (same trial id, from its latest checkpoint) after
    Optuna was told FAIL, and a finished Optuna trial cannot change: a new Optuna trial of the
    same values carries it on, with the failed one's per-epoch values, and the failed attempt
    stays FAIL (``_reopen``).
    """

    def __init__(self, *args: Any, planned_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._default_epochs = planned_epochs
        self._planned: dict[str, int] = {}
        self._best: dict[str, float] = {}
        self._last_step: dict[str, int] = {}
        self.reopened: set[str] = set()  # errored trials --resume carries on

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            self._planned[trial_id] = int(config.get("num_train_epochs", self._default_epochs))
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._reopen(trial_id)
        super().on_trial_result(trial_id, result)
        self._last_step[trial_id] = result.get(TRAINING_ITERATION)
        self._note_best(trial_id, result.get(self.metric))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        self._reopen(trial_id)
        last_step = self._last_step.pop(trial_id, None)
        if (
            result
            and not error
            and self.metric in result
            and result.get(TRAINING_ITERATION) != last_step
        ):
            # A result the scheduler stopped the trial at (its rung, or max_t) reaches only
            # on_trial_complete: record it as that epoch's intermediate value and candidate best.
            self.on_trial_result(trial_id, result)
            self._last_step.pop(trial_id, None)
        best = self._best.pop(trial_id, None)
        planned = self._planned.pop(trial_id, self._default_epochs)
        finished = result is not None and result.get("epoch", 0) >= planned
        told = {**result, self.metric: best} if finished and best is not None else None
        super().on_trial_complete(trial_id, None if error else told, error)

    def _note_best(self, trial_id: str, value: float | None) -> None:
        best = self._best.get(trial_id)
        if value is not None and (best is None or is_better(value, best, self.metric)):
            self._best[trial_id] = value

    def _reopen(self, trial_id: str) -> None:
        """A new Optuna trial for an errored trial that ``--resume`` carries on: the same
        values, the failed trial's per-epoch values reported again, its best kept."""
        if trial_id not in self._completed_trials:
            return
        failed = self._ot_study.trials[self._ot_trials[trial_id].number]
        self._ot_study.enqueue_trial(failed.params)
        ot_trial = self._ot_study.ask()
        self._suggest_from_define_by_run_func(self._space, ot_trial)  # enqueued: the same values
        for step, value in sorted(failed.intermediate_values.items()):
            ot_trial.report(value, step)
            self._note_best(trial_id, value)
        self._ot_trials[trial_id] = ot_trial
        self._completed_trials.discard(trial_id)
        self._planned[trial_id] = int(failed.params.get("num_train_epochs", self._default_epochs))
        self.reopened.add(trial_id)


class ResumeAwareLimiter(ConcurrencyLimiter):
    """Tune's ``ConcurrencyLimiter``, which drops the end of every trial it no longer counts as
    live: here the end of an errored trial that ``--resume`` carries on reaches Optuna too. Such
    a trial is not counted among the ``max_concurrent``; the trials' resources still bound how
    many run. Written against Ray 2.60's ``ConcurrencyLimiter``."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id not in self.live_trials and trial_id in self.searcher.reopened:
            self.searcher.on_trial_complete(trial_id, result=result, error=error)
            self.searcher.reopened.discard(trial_id)
            return
        super().on_trial_complete(trial_id, result=result, error=error)
