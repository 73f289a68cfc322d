"""The report's numbers: one row per trial, per-criterion statistics, compute spent.

Pure pandas over the ``SweepRecord`` read from MLflow (the source of truth). A trial's score is
taken at its best epoch by the selection metric (``scope="best"``, the default: what the sweep
selected on) or at its last epoch (``scope="last"``); its KLUE dev scores are read at that
same epoch, never chosen by looking at dev.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from losses import list_criteria
from search.best_trials import competing
from search.report.statistics import Ranking, mean_sd
from trainable.common.directions import DIRECTIONS, best_first, direction
from trainable.common.tracking import (
    FAILED,
    STOPPED_EARLY_TAG,
    TRIAL_ID_TAG,
    SweepRecord,
    TrialRecord,
)

SCORES = (
    *DIRECTIONS,
    *(f"dev_{name}" for name in DIRECTIONS),
)  # each selection metric, on dev too


def trial_frame(sweep: SweepRecord, metric: str, scope: str) -> pd.DataFrame:
    """One row per trial: identity, sampled values, status, epochs run, scores at the scope."""
    criterion_params = criterion_parameters()
    rows = []
    for trial in sweep.trials:
        epoch = scored_epoch(trial.history, metric, scope)
        params = trial.params
        rows.append(
            {
                "trial_id": trial.tags.get(TRIAL_ID_TAG, ""),
                "run_id": trial.run_id,
                "status": _status(trial),
                "criterion": params.get("criterion", ""),
                **{name: _value(params[name]) for name in criterion_params if name in params},
                "learning_rate": _number(params.get("learning_rate")),
                "num_train_epochs": _number(params.get("num_train_epochs")),
                "epochs_run": len(trial.history.get(metric, {})),
                "epoch": epoch,
                **{name: trial.history.get(name, {}).get(epoch) for name in SCORES},
                "wall_s": ((trial.end_ms or trial.start_ms) - trial.start_ms) / 1000,
            }
        )
    return pd.DataFrame(rows)


def criterion_parameters() -> list[str]:
    """Every criterion parameter name in the registry (gamma, smoothing, beta, ...)."""
    return sorted({p for specs in list_criteria().values() for p in specs})


def criterion_table(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per criterion, best criterion first: trials, competing (scored, not failed) trials, best,
    median, mean ± sd."""
    scored = competing(trials, metric)
    grouped = scored.groupby("criterion")[metric]
    table = pd.DataFrame(
        {
            "trials": trials.groupby("criterion").size(),
            "scored": grouped.size(),
            "best": grouped.max() if direction(metric) == "max" else grouped.min(),
            "median": grouped.median(),
            "mean": grouped.mean(),
            "sd": grouped.std(ddof=1),
        }
    )
    table["scored"] = table["scored"].fillna(0).astype(int)
    return best_first(table, "best", metric).reset_index()


def compute_spent(trials: pd.DataFrame, sweep: SweepRecord, max_t: int) -> dict[str, Any]:
    """Trial-epochs run, wall time, and what early stopping saved."""
    planned = trials["num_train_epochs"].fillna(max_t).sum()
    run = int(trials["epochs_run"].sum())
    return {
        "trials": len(trials),
        "trial_epochs_run": run,
        "trial_epochs_planned": int(planned),
        "trial_epochs_at_max_t": len(trials) * max_t,
        "saved_vs_planned": int(planned) - run,
        "saved_vs_max_t": len(trials) * max_t - run,
        "wall_s": ((sweep.end_ms or sweep.start_ms) - sweep.start_ms) / 1000,
        "trial_time_s": float(trials["wall_s"].sum()),
    }


def scored_epoch(history: dict[str, dict[int, float]], metric: str, scope: str) -> int | None:
    """The epoch a run is scored at: its best by ``metric`` (the earliest on ties), or its last."""
    series = history.get(metric, {})
    if not series:
        return None
    if scope == "last":
        return max(series)
    sign = 1 if direction(metric) == "max" else -1
    return max(series, key=lambda epoch: (sign * series[epoch], -epoch))


def _status(trial: TrialRecord) -> str:
    if trial.status == FAILED:
        return "failed"
    if trial.tags.get(STOPPED_EARLY_TAG) == "true":
        return "stopped early"
    return trial.status.lower()  # finished, running, killed


def _number(value: str | None) -> float | None:
    number = _value(value)
    return number if isinstance(number, float) else None


def _value(value: str | None) -> float | str | None:
    """An MLflow param (always a string) back to a number where it is one."""
    if value in (None, "None", ""):
        return None
    try:
        return float(value)
    except ValueError:
        return value


def confirmation_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per criterion: seeds, mean ± sd of the selection and dev scores."""
    rows = []
    for criterion, group in scores.groupby("criterion", sort=False):
        selection_mean, selection_sd = mean_sd(group[metric].dropna().tolist())
        dev_mean, dev_sd = mean_sd(group[f"dev_{metric}"].dropna().tolist())
        rows.append({
            "criterion": criterion, "seeds": len(group),
            f"{metric} mean": selection_mean, f"{metric} sd": selection_sd,
            f"dev {metric} mean": dev_mean, f"dev {metric} sd": dev_sd,
        })  # fmt: skip
    return pd.DataFrame(rows)


def own_params(trial: pd.Series) -> dict[str, float]:
    """The criterion's own sampled parameters (gamma, smoothing, ...) of a trial row."""
    return {
        key: trial[key]
        for key in criterion_parameters()
        if key in trial and pd.notna(trial[key]) and not isinstance(trial[key], str)
    }


def setup_label(trial: pd.Series) -> str:
    """How the headline names a configuration: ``focal (gamma=1.3)``."""
    params = ", ".join(f"{k}={v:.3g}" for k, v in own_params(trial).items())
    return f"{trial['criterion']} ({params})" if params else trial["criterion"]


def comparison_lines(ranking: Ranking, labels: dict[str, str], metric: str) -> list[str]:
    """One line per comparison of the leader: difference, interval, seeds, decision."""
    leader = labels.get(ranking.leader, ranking.leader)
    return [
        f"{leader} vs {labels.get(c.other, c.other)}: {c.difference:+.2f} {metric} "
        f"({ranking.level:.0%} simultaneous CI {c.low:+.2f}..{c.high:+.2f}, {c.seeds} paired "
        f"seeds, adjusted p = {c.p_value:.3f}): "
        + ("significant" if c.significant else "not significant")
        for c in ranking.comparisons
    ]
