"""The confirmation stage: race the best configuration of the top criteria over paired seeds.

One sweep trial is one training seed, and on KLUE RE seed noise is as large as the differences
between criteria, so the report re-trains the best configuration of each of the top-k criteria
(by selection score), plus the baseline (``ce``) whenever the sweep has it, with training seeds
1, 2, ...: the same seeds for every candidate, so scores pair on seed (the selection split stays
fixed: it follows ``experiment.seed``). Each run is scored on KLUE dev at its best
selection-split epoch: dev is the split no choice was made on, while the selection scores of the
configurations the sweep picked are biased upward. ``search.confirmation.race`` decides look by look
(``report.looks``): a criterion shown worse stops receiving seeds, and the race ends when every
pair left is "better" or "equivalent" (within ``report.margin``), or at the last look; each
look's runs train together in one Tune run.

The runs are MLflow child runs of the sweep's parent run (tags ``stage=confirmation``, ``seed``,
``confirmation.of`` = the sweep trial re-trained), so a report interrupted mid-way, or asked
for more seeds later, re-uses every seed already finished and trains only the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from search.best_trials import scored_epoch
from search.confirmation.race import RaceResult, race
from search.confirmation.run_folders import delete_unheld_checkpoints, held_run, new_run_name
from search.tracking import SweepRecord, TrialRecord, delete_runs, read_confirmations
from trainable.common.cli import InputError, Interrupted
from trainable.common.settings import BestModelSettings, TrialSettings
from trainable.common.tracking import (
    CONFIRMATION_STAGE,
    CONFIRMS_TAG,
    FINISHED,
    SEED_TAG,
    STAGE_TAG,
)


class ConfirmationError(InputError, RuntimeError):
    """No confirmation run finished: nothing to rank (the runs' errors are in MLflow)."""


class ConfirmationInterrupted(Interrupted):
    """Ctrl-C while confirmation runs trained: the finished seeds are kept in MLflow, and the
    same command trains only the rest."""


@dataclass(frozen=True)
class Candidate:
    """A sweep trial whose configuration is re-trained; ``label`` is how the report names it."""

    criterion: str
    label: str
    source_run_id: str
    settings: TrialSettings


@dataclass(frozen=True)
class Confirmation:
    scores: pd.DataFrame  # one row per (criterion, seed): scored epoch, selection and dev scores
    race: RaceResult | None  # None when a single criterion was confirmed
    trained: int  # runs trained by this report; the others were finished before
    baseline: str | None

    @property
    def decision(self) -> str:
        """``winner``, ``equivalent`` or ``undecided`` (``undecided`` with one criterion)."""
        return self.race.decision if self.race is not None else "undecided"

    @property
    def recommended(self) -> str:
        """What the headline recommends: the winner; the baseline when the criteria left are
        equivalent to it; else (undecided) the best mean of those left."""
        if self.race is None:
            return str(self.scores["criterion"].iloc[0])
        running = self.race.running
        if self.decision == "equivalent" and self.baseline in running:
            return self.baseline
        return running[0]


@dataclass(frozen=True)
class Plan:
    """Where and how confirmation runs train (the sweep's resources and storage)."""

    tracking_uri: str
    resources: dict[str, float]
    storage_path: Path
    max_concurrent: int
    models_root: Path  # <root>/<criterion>/: each criterion's best run keeps its model there


def confirm(
    candidates: list[Candidate],
    design: RaceDesign,
    metric: str,
    baseline: str | None,
    sweep: SweepRecord,
    plan: Plan,
) -> Confirmation:
    """Race the candidates over paired seeds (``search.confirmation.race``): each look trains the
    (candidate, seed) runs MLflow lacks in one Tune run, then decides on their dev scores."""
    delete_unheld_checkpoints(plan.storage_path, sweep.checked_name)  # a killed report's
    trainer = _LookTrainer(candidates, metric, sweep, plan)
    names = [candidate.criterion for candidate in candidates]
    if len(names) == 1:  # nothing to compare: the first look's seeds describe it
        trainer.draw([(names[0], seed) for seed in range(1, design.looks[0] + 1)])
        result = None
    else:
        reference = baseline if baseline in names else names[0]
        result = race(
            names,
            trainer.draw,
            metric=metric,
            baseline=reference,
            margin=design.margin,
            looks=design.looks,
            alpha=design.alpha,
        )
    scores = pd.DataFrame(trainer.rows)
    return Confirmation(scores, result, trainer.trained, baseline)


@dataclass(frozen=True)
class RaceDesign:
    """How the confirmation spends seeds: decide at each look's seed count; criteria within
    ``margin`` (metric units) are equivalent; ``alpha`` bounds any false claim."""

    looks: tuple[int, ...]
    margin: float
    alpha: float = 0.05


class _LookTrainer:
    """``race``'s ``draw``: trains what MLflow lacks of a look's (criterion, seed) pairs, then
    answers each pair's dev score at its best selection epoch; finished seeds are re-used."""

    def __init__(
        self, candidates: list[Candidate], metric: str, sweep: SweepRecord, plan: Plan
    ) -> None:
        self.by_name = {candidate.criterion: candidate for candidate in candidates}
        self.metric, self.sweep, self.plan = metric, sweep, plan
        self.done = _finished(sweep.confirmations)
        self.stale = [r.run_id for r in sweep.confirmations if r.status != FINISHED]
        self.rows: list[dict[str, Any]] = []
        self.trained = 0

    def draw(self, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], float]:
        jobs = [
            (self.by_name[name], seed)
            for name, seed in pairs
            if (self.by_name[name].source_run_id, seed) not in self.done
        ]
        if jobs:
            delete_runs(self.plan.tracking_uri, self.stale)  # interrupted: their seeds run again
            self.stale = []
            _train(jobs, self.metric, self.sweep, self.plan)
            self.trained += len(jobs)
            self.done = _finished(
                read_confirmations(self.plan.tracking_uri, self.sweep.parent_run_id)
            )
        return {(name, seed): self._score(name, seed) for name, seed in pairs}

    def _score(self, name: str, seed: int) -> float:
        candidate = self.by_name[name]
        record = self.done.get((candidate.source_run_id, seed))
        if record is None:
            raise ConfirmationError(
                f"the confirmation of {candidate.label}, seed {seed}, did not finish (its error "
                "is on its confirmation run in MLflow, tag error); run the report again to "
                "train it again"
            )
        row = {"criterion": name, "seed": seed, **_score(record, self.metric)}
        self.rows.append(row)
        dev = row[f"dev_{self.metric}"]
        if dev is None or not math.isfinite(dev):
            raise ConfirmationError(f"confirmation run {record.run_id} has no dev_{self.metric}")
        return float(dev)


def _finished(records: list[TrialRecord]) -> dict[tuple[str, int], TrialRecord]:
    return {
        (record.tags[CONFIRMS_TAG], int(record.tags[SEED_TAG])): record
        for record in records
        if record.status == FINISHED
    }


def _score(record: TrialRecord, metric: str) -> dict[str, Any]:
    """The run's scores at its best selection-split epoch (never chosen by looking at dev)."""
    epoch = scored_epoch(record.history, metric, "best")
    return {
        "epoch": epoch,
        metric: record.history.get(metric, {}).get(epoch),
        f"dev_{metric}": record.history.get(f"dev_{metric}", {}).get(epoch),
        "run_id": record.run_id,
    }


def _train(jobs: list[tuple[Candidate, int]], metric: str, sweep: SweepRecord, plan: Plan) -> None:
    """One Tune run over the jobs, each a child run of the sweep's parent in MLflow. Scores
    live in MLflow; checkpoints serve retries only (gone once the Tune run ends:
    ``run_folders``); each criterion's best run keeps its model under ``plan.models_root`` for
    the report to register."""
    from search import ray_tune  # Ray and torch load only when something is trained
    from trainable.data import prepare_data
    from trainable.hub import check_model_source

    settings_list = [_job_settings(c, seed, metric, sweep, plan) for c, seed in jobs]
    check_model_source(settings_list[0].model)  # an unreachable hub fails in seconds, not later
    data = prepare_data(settings_list[0])  # one sweep, one data preparation for every run
    print(f"confirmation: training {len(jobs)} run(s) ...", flush=True)
    ray_tune.start_ray()
    name = new_run_name(sweep.checked_name)
    tuner = ray_tune.build_tuner(
        _run_one,
        {"settings_list": settings_list, "data": data},
        plan.resources,
        name=name,
        storage_path=plan.storage_path,
        metric=metric,
        param_space={"index": ray_tune.grid(list(range(len(jobs))))},
        max_concurrent=plan.max_concurrent,
        reuse_actors=True,
        callbacks=[ray_tune.Progress("confirmation")],
    )
    with held_run(plan.storage_path, name):
        try:
            ray_tune.fit(tuner, len(jobs))
        except ray_tune.FitInterrupted as interrupted:
            raise ConfirmationInterrupted(str(interrupted)) from None


def _job_settings(
    candidate: Candidate, seed: int, metric: str, sweep: SweepRecord, plan: Plan
) -> TrialSettings:
    settings = candidate.settings
    tags = {
        STAGE_TAG: CONFIRMATION_STAGE,
        SEED_TAG: str(seed),
        CONFIRMS_TAG: candidate.source_run_id,
        "mlflow.runName": f"confirm-{candidate.criterion}-seed{seed}",
    }
    return settings.model_copy(
        update={
            "train": settings.train.model_copy(update={"seed": seed}),
            "tracking": settings.tracking.model_copy(
                update={
                    "uri": plan.tracking_uri,
                    "parent_run_id": sweep.parent_run_id,
                    "tags": tags,
                }
            ),
            "storage": settings.storage.model_copy(
                update={
                    "path": plan.storage_path,
                    "best_model": BestModelSettings(
                        dir=plan.models_root / candidate.criterion, metric=metric
                    ),
                }
            ),
        }
    )


def _run_one(config: dict[str, Any], *, settings_list: list[TrialSettings], data) -> None:
    """The trainable: job ``config["index"]`` of the grid, as one trial."""
    from trainable.train import train_fn

    train_fn({}, settings=settings_list[config["index"]], data=data)
