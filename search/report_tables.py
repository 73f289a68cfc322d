"""The report's numbers: one row per trial, the winner, per-criterion statistics, compute spent.

Pure pandas over the ``SweepRecord`` read from MLflow (the source of truth). A trial's score is
taken at its best epoch by the selection metric (``scope="best"``, the default: what the sweep
selected on) or at its last epoch (``scope="last"``); its test (KLUE dev) scores are read at that
same epoch, never chosen by looking at dev.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from losses import list_criteria
from trainable.tracking import SweepRecord, TrialRecord

SCORES = ("micro_f1", "auprc", "accuracy", "ce_loss", "test_micro_f1", "test_auprc")


def trial_frame(sweep: SweepRecord, metric: str, mode: str, scope: str) -> pd.DataFrame:
    """One row per trial: identity, sampled values, status, epochs run, scores at the scope."""
    criterion_params = sorted({p for specs in list_criteria().values() for p in specs})
    rows = []
    for trial in sweep.trials:
        epoch = _scored_epoch(trial, metric, mode, scope)
        params = trial.params
        rows.append(
            {
                "trial_id": trial.tags.get("ray.trial_id", ""),
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


def ranked(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Trials that compete: scored and not failed (a crashed trial never wins)."""
    return trials[(trials["status"] != "failed") & trials[metric].notna()]


def winner(trials: pd.DataFrame, metric: str, mode: str) -> pd.Series | None:
    """The best competing trial (ties: the earlier row)."""
    scored = ranked(trials, metric)
    if scored.empty:
        return None
    index = scored[metric].idxmax() if mode == "max" else scored[metric].idxmin()
    return scored.loc[index]


def criterion_table(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per criterion: trials, competing (scored, not failed) trials, best, median, mean ± sd."""
    scored = ranked(trials, metric)
    grouped = scored.groupby("criterion")[metric]
    table = pd.DataFrame(
        {
            "trials": trials.groupby("criterion").size(),
            "scored": grouped.size(),
            "best": grouped.max(),
            "median": grouped.median(),
            "mean": grouped.mean(),
            "sd": grouped.std(ddof=1),
        }
    )
    table["scored"] = table["scored"].fillna(0).astype(int)
    return table.sort_values("best", ascending=False).reset_index()


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


def best_of(trials: pd.DataFrame, criterion: str, metric: str, mode: str) -> pd.Series | None:
    return winner(trials[trials["criterion"] == criterion], metric, mode)


def _scored_epoch(trial: TrialRecord, metric: str, mode: str, scope: str) -> int | None:
    series = trial.history.get(metric, {})
    if not series:
        return None
    if scope == "last":
        return max(series)
    pick = max if mode == "max" else min
    return pick(series, key=lambda epoch: (series[epoch], -epoch))


def _status(trial: TrialRecord) -> str:
    if trial.status == "FAILED":
        return "failed"
    if trial.tags.get("stopped_early") == "true":
        return "stopped early"
    return {"FINISHED": "finished", "RUNNING": "running", "KILLED": "killed"}.get(
        trial.status, trial.status.lower()
    )


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
