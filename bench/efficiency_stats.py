"""What the search-efficiency runs say: best score found as the budget grows, the budget each
strategy needs to come close to the best any run found, and which differences the repetitions
support.

Every run of one search seed shares its warm-start and first random trials, so strategies are
compared paired on seed, with the report's own statistics (``search.confirmation.statistics``:
paired t intervals, Bonferroni over all pairs of strategies): a strategy wins only where its
interval excludes 0. Pure Python over the runs' score lists."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search.confirmation.statistics import Ranking, rank_criteria

if TYPE_CHECKING:  # the runs module imports Ray; these statistics need none of it
    from bench.efficiency_runs import Run

CLOSE = 0.5  # micro-F1 points below the best any run found that count as "found it"


def best_so_far(scores: Sequence[float], budget: int) -> list[float]:
    """The best score after each trial-epoch, 1..budget. A run that ended short (every trial
    done, or failed) keeps its last best for the rest of the budget."""
    curve: list[float] = []
    for score in scores[:budget]:
        curve.append(max(score, curve[-1]) if curve else score)
    return curve + [curve[-1] if curve else math.nan] * (budget - len(curve))


def budget_to_reach(scores: Sequence[float], target: float) -> int | None:
    """Trial-epochs until a score of at least ``target``; None if the run never got there."""
    return next((index + 1 for index, score in enumerate(scores) if score >= target), None)


def grid(budget: int, points: int = 3) -> list[int]:
    """``points`` evenly spaced budgets ending at the full one (e.g. 10, 20, 30)."""
    return sorted({max(1, round(budget * k / points)) for k in range(1, points + 1)})


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    runs: int
    trials: float  # median trials per run: early stopping buys more of them
    at_budget: dict[int, tuple[float, float, float]]  # budget: (median, min, max) best so far
    reached: int  # runs that came within CLOSE of the best any run found
    median_to_reach: float | None  # trial-epochs; None when fewer than half the runs reached
    matches_reference: int | None  # trial-epochs until its median reaches the reference's final


def summarize(
    runs: Sequence[Run], budget: int, reference: str
) -> tuple[float, list[StrategySummary]]:
    """The best score any run found, and each strategy's summary, in first-run order.
    ``reference`` (random search) sets the bar for ``matches_reference``."""
    overall = max(max(run.scores[:budget]) for run in runs)
    medians = {strategy: median_curve(runs, strategy, budget) for strategy in _strategies(runs)}
    bar = medians[reference][-1]
    summaries = []
    for strategy, median in medians.items():
        own = [run for run in runs if run.strategy == strategy]
        curves = [best_so_far(run.scores, budget) for run in own]
        reach = [budget_to_reach(run.scores[:budget], overall - CLOSE) for run in own]
        summaries.append(
            StrategySummary(
                strategy=strategy,
                runs=len(own),
                trials=statistics.median(run.trials for run in own),
                at_budget={b: _median_min_max([c[b - 1] for c in curves]) for b in grid(budget)},
                reached=sum(r is not None for r in reach),
                median_to_reach=_censored_median(reach),
                matches_reference=budget_to_reach(median, bar),
            )
        )
    return overall, summaries


def median_curve(runs: Sequence[Run], strategy: str, budget: int) -> list[float]:
    """The median over a strategy's runs of the best score after each trial-epoch."""
    curves = [best_so_far(run.scores, budget) for run in runs if run.strategy == strategy]
    return [statistics.median(column) for column in zip(*curves, strict=True)]


def compare_at(runs: Sequence[Run], budget: int) -> Ranking:
    """Strategies ranked by best score after ``budget`` trial-epochs, paired on search seed."""
    scores: dict[str, dict[int, float]] = {}
    for run in runs:
        scores.setdefault(run.strategy, {})[run.seed] = best_so_far(run.scores, budget)[-1]
    return rank_criteria(scores, mode="max")


def _strategies(runs: Sequence[Run]) -> list[str]:
    return list(dict.fromkeys(run.strategy for run in runs))


def _median_min_max(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _censored_median(budgets: list[int | None]) -> float | None:
    """The median budget, a run that never reached counting as more than any budget."""
    ordered = sorted(budgets, key=lambda b: math.inf if b is None else b)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    if any(b is None for b in middle):
        return None
    return statistics.mean(middle)
