"""The confirmation stage: re-train the best configuration of the top criteria over N seeds.

One sweep trial is one training seed, and on KLUE RE seed noise is as large as the differences
between criteria, so the report re-trains the best configuration of each of the top-k criteria
(by selection score), plus the baseline (``ce``) whenever the sweep has it, with training seeds
1..N: the same seeds for every candidate, so scores pair on seed (the selection split stays
fixed: it follows ``experiment.seed``). Each run is scored on KLUE dev at its best
selection-split epoch: dev is the split no choice was made on, while the selection scores of the
configurations the sweep picked are biased upward. ``statistics.rank_criteria`` turns the scores
into the verdict.

The runs are MLflow child runs of the sweep's parent run (tags ``stage=confirmation``, ``seed``,
``confirmation.of`` = the sweep trial re-trained), so a report interrupted mid-way, or asked
for more seeds later, re-uses every seed already finished and trains only the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from search.best_trials import best_of
from search.report.statistics import Ranking, rank_criteria
from search.report.tables import criterion_table, scored_epoch
from trainable.common.directions import direction
from trainable.common.settings import BestModelSettings, TrialSettings
from trainable.common.tracking import (
    CONFIRMATION_STAGE,
    CONFIRMS_TAG,
    FINISHED,
    SEED_TAG,
    STAGE_TAG,
    SweepRecord,
    TrialRecord,
    delete_runs,
    read_confirmations,
)


class ConfirmationError(RuntimeError):
    """No confirmation run finished: nothing to rank (the runs' errors are in MLflow)."""


class ConfirmationInterrupted(Exception):
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
    ranking: Ranking
    trained: int  # runs trained by this report; the others were finished before
    notes: list[str]


@dataclass(frozen=True)
class Plan:
    """Where and how confirmation runs train (the sweep's resources and storage)."""

    tracking_uri: str
    resources: dict[str, float]
    storage_path: Path
    max_concurrent: int
    models_root: Path  # <root>/<criterion>/: each criterion's best run keeps its model there


def candidate_trials(
    trials: pd.DataFrame, metric: str, top_k: int, baseline: str | None
) -> list[pd.Series]:
    """The best trial of each of the top-k criteria, then the baseline's if not among them."""
    ranking = criterion_table(trials, metric)["criterion"].tolist()
    chosen = ranking[:top_k]
    if baseline in ranking and baseline not in chosen:
        chosen.append(baseline)
    return [best_of(trials, criterion, metric) for criterion in chosen]


def confirm(
    candidates: list[Candidate], seeds: int, metric: str, sweep: SweepRecord, plan: Plan
) -> Confirmation:
    """Train the (candidate, seed) runs MLflow lacks, then rank every candidate on dev."""
    wanted = range(1, seeds + 1)
    done = _finished(sweep.confirmations)
    jobs = [(c, seed) for c in candidates for seed in wanted if (c.source_run_id, seed) not in done]
    if jobs:
        stale = [r.run_id for r in sweep.confirmations if r.status != FINISHED]
        delete_runs(plan.tracking_uri, stale)  # interrupted attempts: their seeds run again
        _train(jobs, metric, sweep, plan)
        done = _finished(read_confirmations(plan.tracking_uri, sweep.parent_run_id))
    rows, notes = [], []
    for candidate in candidates:
        for seed in wanted:
            record = done.get((candidate.source_run_id, seed))
            if record is None:
                notes.append(f"Confirmation of {candidate.label}, seed {seed}, did not finish.")
                continue
            rows.append({"criterion": candidate.criterion, "seed": seed, **_score(record, metric)})
    scores = pd.DataFrame(rows)
    if scores.empty:
        raise ConfirmationError(
            f"no confirmation run finished ({'; '.join(notes[:3])}); their errors are on the "
            "confirmation runs in MLflow (tag error)"
        )
    dev = f"dev_{metric}"
    by_criterion = {
        criterion: dict(zip(group["seed"], group[dev], strict=True))
        for criterion, group in scores.dropna(subset=[dev]).groupby("criterion", sort=False)
    }
    ranking = rank_criteria(by_criterion, mode=direction(metric))
    return Confirmation(scores, ranking, len(jobs), notes)


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
    live in MLflow; checkpoints serve retries only (gone once the runs end); each criterion's
    best run keeps its model under ``plan.models_root`` for the report to register."""
    from trainable.common import ray_tune  # Ray and torch load only when something is trained
    from trainable.data import prepare_data
    from trainable.hub import check_model_source

    settings_list = [_job_settings(c, seed, metric, sweep, plan) for c, seed in jobs]
    check_model_source(settings_list[0].model)  # an unreachable hub fails in seconds, not later
    data = prepare_data(settings_list[0])  # one sweep, one data preparation for every run
    print(f"confirmation: training {len(jobs)} run(s) ...", flush=True)
    ray_tune.start_ray()
    tuner = ray_tune.build_tuner(
        _run_one, {"settings_list": settings_list, "data": data},
        plan.resources, name=f"{sweep.checked_name}-confirm-{time.strftime('%Y%m%d-%H%M%S')}",
        storage_path=plan.storage_path, metric=metric,
        param_space={"index": ray_tune.grid(list(range(len(jobs))))},
        max_concurrent=plan.max_concurrent, reuse_actors=True,
        callbacks=[ray_tune.Progress("confirmation")],
    )  # fmt: skip
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
