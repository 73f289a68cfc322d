"""Which way is better, for every metric a trial reports: the one table everything asks.

Config validation, Tune, Optuna, the sweep summary, the report, the confirmation statistics and
the plots all rank by a metric; each asks here instead of assuming "higher is better", which
once ranked a ``ce_loss`` sweep backwards. Metrics of KLUE dev (``dev_`` prefix) go the
same way as their selection-split name. No torch or Ray: cheap enough for ``--dry-run``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

Direction = Literal["max", "min"]

DIRECTIONS: dict[str, Direction] = {
    "micro_f1": "max",
    "auprc": "max",
    "accuracy": "max",
    "ce_loss": "min",
}
DEV_PREFIX = "dev_"


def base_name(metric: str) -> str:
    """``dev_micro_f1`` → ``micro_f1``: the split does not change the direction."""
    return metric.removeprefix(DEV_PREFIX)


def direction(metric: str) -> Direction:
    """``max`` if a larger value is better, else ``min``; unknown metrics are an error."""
    name = base_name(metric)
    if name not in DIRECTIONS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(DIRECTIONS)}")
    return DIRECTIONS[name]


def is_better(candidate: float, incumbent: float, metric: str) -> bool:
    """Strictly better in the metric's direction."""
    return candidate > incumbent if direction(metric) == "max" else candidate < incumbent


def best_first(frame: pd.DataFrame, column: str, metric: str | None = None) -> pd.DataFrame:
    """``frame`` sorted best ``column`` first (ties keep their order); missing values last."""
    ascending = direction(metric or column) == "min"
    return frame.sort_values(column, ascending=ascending, kind="stable", na_position="last")


def best_row(frame: pd.DataFrame, column: str, metric: str | None = None) -> pd.Series | None:
    """The row with the best ``column`` (the earlier row on ties), or None when none is scored."""
    scored = frame[frame[column].notna()]
    if scored.empty:
        return None
    return best_first(scored, column, metric).iloc[0]
