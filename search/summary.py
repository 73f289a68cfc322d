"""The end-of-sweep summary: the best trial per criterion, as a Markdown table. Pure pandas."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from trainable.common.directions import best_first

SHOWN_METRICS = ("micro_f1", "auprc", "dev_micro_f1", "dev_auprc")


def best_per_criterion(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per criterion, best first: its best trial by ``metric`` (each at its best epoch)."""
    scored = trials.dropna(subset=[metric])
    if scored.empty:
        return scored
    ordered = best_first(scored, metric)
    return ordered.groupby("criterion", sort=False).head(1).reset_index(drop=True)


def trial_table(
    results: pd.DataFrame, base_criterion: str, run_ids: dict[str, str], metric: str
) -> pd.DataFrame:
    """Normalise Tune's per-trial dataframe: ``criterion``, ``params``, the selection ``metric``
    and the usual scores (selection and dev), and the MLflow run id."""
    shown = list(dict.fromkeys((metric, *SHOWN_METRICS, f"dev_{metric}")))
    config_columns = [c for c in results.columns if c.startswith("config/")]
    rows = []
    for _, row in results.iterrows():
        config = {c.removeprefix("config/"): row[c] for c in config_columns if not _missing(row[c])}
        rows.append(
            {
                "trial_id": row["trial_id"],
                "criterion": config.pop("criterion", base_criterion),
                "params": ", ".join(f"{k}={short(v)}" for k, v in sorted(config.items())),
                "epoch": row.get("epoch"),
                **{name: row.get(name) for name in shown},
                "mlflow_run_id": run_ids.get(row["trial_id"], ""),
            }
        )
    columns = ["trial_id", "criterion", "params", "epoch", *shown, "mlflow_run_id"]
    return pd.DataFrame(rows, columns=columns)


def to_markdown(frame: pd.DataFrame, title: str, notes: list[str] = ()) -> str:
    lines = [f"# {title}", ""]
    lines.append(markdown_table(frame) if not frame.empty else "No trial reported a score.")
    lines += ["", *notes]
    return "\n".join(lines).rstrip() + "\n"


def markdown_table(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(short(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def short(value: Any) -> str:
    """A table cell: blanks for missing values, 2 decimals for scores, 4 digits for small."""
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 else f"{value:.2f}"
    return str(value)
