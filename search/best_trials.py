"""Which trials compete and which is best, overall and per criterion: one rule for the sweep's
summary, the report and the confirmation's choice of candidates.

A trial competes when it has a score and did not fail (a crashed trial never wins, whatever it
reported before crashing); the best is the best score in the metric's direction, the earlier
row on ties. Pure pandas.
"""

from __future__ import annotations

import pandas as pd

from trainable.common.directions import best_first, best_row, direction


def competing(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Trials with a ``metric`` score, failed ones aside (when a ``status`` column says so)."""
    scored = trials[trials[metric].notna()]
    if "status" in scored:
        scored = scored[scored["status"] != "failed"]
    return scored


def best_per_criterion(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per criterion, best first: its best competing trial by ``metric``."""
    ordered = best_first(competing(trials, metric), metric)
    return ordered.groupby("criterion", sort=False).head(1).reset_index(drop=True)


def winner(trials: pd.DataFrame, metric: str) -> pd.Series | None:
    """The best competing trial, or None when no trial competes."""
    return best_row(competing(trials, metric), metric)


def best_of(trials: pd.DataFrame, criterion: str, metric: str) -> pd.Series | None:
    """The best competing trial of ``criterion``."""
    return winner(trials[trials["criterion"] == criterion], metric)


def scored_epoch(history: dict[str, dict[int, float]], metric: str, scope: str) -> int | None:
    """The epoch a run is scored at: its best by ``metric`` (the earliest on ties), or its last."""
    series = history.get(metric, {})
    if not series:
        return None
    if scope == "last":
        return max(series)
    sign = 1 if direction(metric) == "max" else -1
    return max(series, key=lambda epoch: (sign * series[epoch], -epoch))
