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
from search.best_trials import competing, scored_epoch
from search.markdown import missing, short
from search.tracking import SweepRecord, TrialRecord
from trainable.common.directions import DIRECTIONS, best_first, direction
from trainable.common.settings import TrainSettings
from trainable.common.tracking import (
    FAILED,
    SEARCHED_TAG,
    STOPPED_EARLY_TAG,
    TRIAL_ID_TAG,
    TrackingError,
)

_IDENTITY = ("trial_id", "run_id", "status", "criterion")
SCORES = (
    *DIRECTIONS,
    *(f"dev_{name}" for name in DIRECTIONS),
)  # each selection metric, on dev too


def trial_frame(sweep: SweepRecord, metric: str, scope: str) -> pd.DataFrame:
    """One row per trial: identity, every sampled value, status, epochs run, scores at the
    scope. Whole numbers (epochs, batch sizes) stay integers."""
    setup = setup_names(sweep)
    rows = []
    for trial in sweep.trials:
        epoch = scored_epoch(trial.history, metric, scope)
        params = trial.params
        rows.append(
            {
                "trial_id": trial.tags.get(TRIAL_ID_TAG, ""),
                "run_id": trial.run_id,
                "status": _status(trial),
                "criterion": _criterion(trial),
                **{name: _value(params.get(name)) for name in setup},
                "epochs_run": len(trial.history.get(metric, {})),
                "epoch": epoch,
                **{name: trial.history.get(name, {}).get(epoch) for name in SCORES},
                "wall_s": ((trial.end_ms or trial.start_ms) - trial.start_ms) / 1000,
            }
        )
    frame = pd.DataFrame(rows)
    for name in ("epoch", *setup):  # pandas would make a column of ints with gaps floats
        values = [row[name] for row in rows if row[name] is not None]
        if values and all(isinstance(value, int) for value in values):
            frame[name] = frame[name].astype("Int64")
    return frame


def setup_names(sweep: SweepRecord) -> list[str]:
    """What a trial's row shows of its setup: every searched name but ``criterion`` (the
    criterion's own parameters first), plus learning rate and epochs, searched or not. A sweep
    without a record of its space shows the registry's criterion parameters."""
    searched = [name for name in sweep.tags.get(SEARCHED_TAG, "").split(",") if name]
    own = criterion_parameters()
    _check_searched(searched, own, sweep.parent_run_id)
    if not searched:
        searched = own
    names = dict.fromkeys(
        [*(n for n in searched if n in own), "learning_rate", "num_train_epochs", *searched]
    )
    names.pop("criterion", None)
    return list(names)


def _check_searched(searched: list[str], own: list[str], run_id: str) -> None:
    """The tag's names become columns of ``trials.csv`` and the report: anyone with EDIT can
    write it, so a name outside the criteria's and training's own (a formula, or ``run_id``
    overwriting a column) is refused, not shown."""
    known = {"criterion", *own, *TrainSettings.model_fields}
    unknown = [name for name in searched if name not in known]
    if unknown:
        raise TrackingError(
            f"MLflow run {run_id}: tag {SEARCHED_TAG} names {unknown[0]!r}, not a criterion or "
            f"train parameter; known: {', '.join(sorted(known))}"
        )


def _criterion(trial: TrialRecord) -> str:
    """The trial's criterion param, one the registry knows (or none: a trial that failed before
    logging it), so a planted name never reaches a caption, a colour or a file."""
    name = trial.params.get("criterion", "")
    if name and name not in list_criteria():
        raise TrackingError(
            f"MLflow run {trial.run_id}: unknown criterion {name!r}; known: "
            f"{', '.join(list_criteria())}"
        )
    return name


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


def shown_trials(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The trials table of the report's pages, narrow enough for a laptop screen: the setup in
    one ``setup`` cell (criterion parameters, learning rate, epochs and the rest), the selection
    and dev scores of the ranking metric and dev AUPRC. ``trials.csv`` keeps every column."""
    setup_columns = [
        name
        for name in trials.columns
        if name not in (*_IDENTITY, *SCORES, "epochs_run", "epoch", "wall_s")
    ]
    shown = best_first(trials, metric).reset_index(drop=True)
    return pd.DataFrame(
        {
            "trial": shown["trial_id"],
            "status": shown["status"],
            "criterion": shown["criterion"],
            "setup": [_setup_cell(row, setup_columns) for _, row in shown.iterrows()],
            "epochs run": shown["epochs_run"],
            "scored epoch": shown["epoch"],
            metric: shown[metric],
            f"dev {metric}": shown[f"dev_{metric}"],
            "dev auprc": shown["dev_auprc"],
            "wall s": shown["wall_s"],
        }
    )


def _setup_cell(row: pd.Series, columns: list[str]) -> str:
    short_names = {"learning_rate": "lr", "num_train_epochs": "epochs"}
    return ", ".join(
        f"{short_names.get(name, name)}={short(row[name])}"
        for name in columns
        if not missing(row[name])
    )


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


def _status(trial: TrialRecord) -> str:
    if trial.status == FAILED:
        return "failed"
    if trial.tags.get(STOPPED_EARLY_TAG) == "true":
        return "stopped early"
    return trial.status.lower()  # finished, running, killed


def _value(value: str | None) -> int | float | str | None:
    """An MLflow param (always a string) back to the integer or float it was, if one."""
    if value in (None, "None", ""):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def own_params(trial: pd.Series) -> dict[str, float]:
    """The criterion's own sampled parameters (gamma, smoothing, ...) of a trial row."""
    return {
        key: trial[key]
        for key in criterion_parameters()
        if key in trial and pd.notna(trial[key]) and not isinstance(trial[key], str)
    }


def setup_label(trial: pd.Series) -> str:
    """How the headline names a configuration: ``focal (gamma=1.3)``."""
    params = ", ".join(f"{k}={short(v)}" for k, v in own_params(trial).items())
    return f"{trial['criterion']} ({params})" if params else trial["criterion"]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); tab and
# carriage return start one too in some.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for a CSV file: text cells and column names that a spreadsheet would run as a
    formula get a leading ``'`` (shown as text). Numbers, negative ones too, are left as they
    are."""

    def quoted(value: Any) -> Any:
        return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value

    text_columns = frame.select_dtypes(include=["object", "string"]).columns
    safe = frame.copy()
    for column in text_columns:
        safe[column] = safe[column].map(quoted)
    return safe.rename(columns=quoted)
