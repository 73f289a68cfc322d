"""The end-of-sweep summary: the best trial per criterion, as a Markdown table, with notes on
errored trials, disk use and what MLflow holds. Pandas over Tune's results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from search.best_trials import best_per_criterion
from search.config import SweepConfig
from search.markdown import error_line, missing, short, to_markdown

SHOWN_METRICS = ("micro_f1", "auprc", "dev_micro_f1", "dev_auprc")


@dataclass(frozen=True)
class Summary:
    markdown: str
    best_scores: dict[str, float]  # the best trial's scores as ``best_<metric>``; {} when none


def summarize(
    config: SweepConfig,
    results: Any,
    disk_bytes: int,
    run_ids: dict[str, str],
    tracking_notes: list[str],
) -> Summary:
    """The summary of a finished sweep (``results``: Tune's ``ResultGrid``)."""
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
        *(f"Errored: trial {r.metrics.get('trial_id')}: {error_line(r.error)}" for r in errored),
        f"Ray results: {config.storage.path / config.experiment.name} "
        f"({disk_bytes / 2**20:.1f} MiB; no checkpoint kept once a trial ends)",
        *tracking_notes,
    ]
    markdown = to_markdown(best, f"Best trial per criterion — {config.experiment.name}", notes)
    return Summary(markdown, _best_scores(best, search.metric))


def _best_scores(best: pd.DataFrame, metric: str) -> dict[str, float]:
    if best.empty:
        return {}
    top = best.iloc[0]
    names = dict.fromkeys((metric, *SHOWN_METRICS, f"dev_{metric}", "epoch"))
    return {f"best_{name}": float(top[name]) for name in names if not missing(top[name])}


def trial_table(
    results: pd.DataFrame, base_criterion: str, run_ids: dict[str, str], metric: str
) -> pd.DataFrame:
    """Normalise Tune's per-trial dataframe: ``criterion``, ``params``, the selection ``metric``
    and the usual scores (selection and dev), and the MLflow run id."""
    shown = list(dict.fromkeys((metric, *SHOWN_METRICS, f"dev_{metric}")))
    config_columns = [c for c in results.columns if c.startswith("config/")]
    rows = []
    for _, row in results.iterrows():
        config = {c.removeprefix("config/"): row[c] for c in config_columns if not missing(row[c])}
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
