"""The confirmation stage: re-train the best config of the top-k criteria with several seeds.

Each criterion's winning trial is re-run exactly (its ``trial_settings.yaml`` from MLflow) with
training seeds 1..N (the selection split stays fixed: it follows ``experiment.seed``), as one
Ray Tune run with the sweep's resources. A run's dev score is read at its best selection-split
epoch, never chosen on dev. Confirmation runs are recorded in the report, not as sweep trials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from search.statistics import Comparison, compare, mean_sd
from trainable.data import prepare_data
from trainable.session import start_ray
from trainable.settings import TrialSettings
from trainable.train import train_fn


def confirm(
    candidates: dict[str, TrialSettings],
    *,
    seeds: int,
    metric: str,
    resources: dict[str, float],
    storage_path: Path,
    name: str,
    max_concurrent: int,
) -> tuple[pd.DataFrame, list[Comparison]]:
    """Scores per (criterion, seed) and the winner-vs-each-runner-up comparisons.

    ``candidates`` maps criterion → its best trial's settings, best criterion first."""
    runs = [
        (criterion, seed, _seeded(settings, seed))
        for criterion, settings in candidates.items()
        for seed in range(1, seeds + 1)
    ]
    data = prepare_data(runs[0][2])  # identical data settings: one preparation for all runs
    start_ray()
    tuner = tune.Tuner(
        tune.with_resources(
            tune.with_parameters(_run_one, settings_list=[s for *_, s in runs], data=data),
            resources,
        ),
        param_space={"index": tune.grid_search(list(range(len(runs))))},
        tune_config=tune.TuneConfig(
            metric=metric, mode="max", max_concurrent_trials=max_concurrent, reuse_actors=True
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(storage_path), verbose=1),
    )
    results = tuner.fit()
    rows = []
    for result in results:
        criterion, seed, _ = runs[result.config["index"]]
        frame = result.metrics_dataframe
        best = frame.loc[frame[metric].idxmax()] if frame is not None and len(frame) else None
        rows.append(
            {
                "criterion": criterion,
                "seed": seed,
                "epoch": None if best is None else int(best["epoch"]),
                metric: None if best is None else float(best[metric]),
                f"test_{metric}": None if best is None else float(best[f"test_{metric}"]),
            }
        )
    scores = pd.DataFrame(rows).sort_values(["criterion", "seed"]).reset_index(drop=True)
    return scores, _comparisons(scores, list(candidates), f"test_{metric}")


def summary_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per criterion: seeds, mean ± sd of the selection and dev scores."""
    rows = []
    for criterion, group in scores.groupby("criterion", sort=False):
        selection_mean, selection_sd = mean_sd(group[metric].dropna().tolist())
        dev_mean, dev_sd = mean_sd(group[f"test_{metric}"].dropna().tolist())
        rows.append(
            {
                "criterion": criterion,
                "seeds": len(group),
                f"{metric} mean": selection_mean,
                f"{metric} sd": selection_sd,
                f"dev {metric} mean": dev_mean,
                f"dev {metric} sd": dev_sd,
            }
        )
    return pd.DataFrame(rows)


def _comparisons(scores: pd.DataFrame, order: list[str], column: str) -> list[Comparison]:
    by_criterion = {c: g[column].dropna().tolist() for c, g in scores.groupby("criterion")}
    means = {c: sum(v) / len(v) for c, v in by_criterion.items() if v}
    ranked = sorted(means, key=means.get, reverse=True) or order
    leader = ranked[0]
    return [
        compare(leader, by_criterion[leader], other, by_criterion[other]) for other in ranked[1:]
    ]


def _seeded(settings: TrialSettings, seed: int) -> TrialSettings:
    train = settings.train.model_copy(update={"seed": seed})
    tracking = settings.tracking.model_copy(update={"uri": None, "parent_run_id": None})
    return settings.model_copy(update={"train": train, "tracking": tracking})


def _run_one(config: dict[str, Any], *, settings_list: list[TrialSettings], data) -> None:
    train_fn({}, settings=settings_list[config["index"]], data=data)
