"""What mattered: parameter importance and a parallel-coordinates view, through Optuna.

The report reads trials from MLflow (the source of truth), so the study analysed here is rebuilt
in memory from the trials table and the sweep's space (``search.yaml`` on the parent run): every
trial that competes enters as COMPLETE with the score the report ranks it by. Optuna's default
evaluator, PED-ANOVA, also scores conditional parameters (``gamma`` exists only for focal), which
the other evaluators drop. Importance from a few dozen trials describes this sweep; it is not a
test of anything.
"""

from __future__ import annotations

import warnings

import optuna
import pandas as pd
from optuna.trial import TrialState, create_trial

from search.best_trials import competing
from search.optuna_space import distributions
from search.space import SpaceParam
from trainable.common.directions import direction

MIN_TRIALS = 4  # fewer competing trials than this: no importance (nothing to contrast)
MIN_TOP_TRIALS = 5  # PED-ANOVA contrasts the top trials with all; Optuna advises at least 5 on top


def study_of(trials: pd.DataFrame, space: dict[str, SpaceParam], metric: str) -> optuna.Study:
    """An in-memory Optuna study of the competing trials: their sampled values and scores."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per in-memory study
    study = optuna.create_study(direction=_maximize_or_minimize(metric))
    known = distributions(space)
    for _, row in competing(trials, metric).iterrows():
        params = {name: _plain(row[name]) for name in known if name in row and pd.notna(row[name])}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=float(row[metric]),
                params=params,
                distributions={name: known[name] for name in params},
                user_attrs={"criterion": row.get("criterion", "")},
            )
        )
    return study


def importance_table(study: optuna.Study) -> pd.DataFrame:
    """Parameter importance (0..1, summing to 1 per column): over all trials, then among each
    criterion's own trials. Empty cells: a parameter that criterion never sampled, or too few
    trials to say."""
    columns = {"all trials": _importances(study.trials, study)}
    criteria = sorted({t.user_attrs.get("criterion", "") for t in study.trials} - {""})
    for criterion in criteria:
        own = [t for t in study.trials if t.user_attrs.get("criterion") == criterion]
        columns[criterion] = _importances(own, study)
    table = pd.DataFrame(columns).dropna(axis="columns", how="all")
    if table.empty:
        return table
    table = table.sort_values("all trials", ascending=False, na_position="last")
    return table.rename_axis("parameter").reset_index()


def parallel_coordinates(study: optuna.Study):
    """Optuna's parallel-coordinates plot (matplotlib axes) of every trial, or None when the
    study has no trials."""
    if not study.trials:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.visualization.matplotlib.plot_parallel_coordinate(study)


def _importances(trials: list[optuna.trial.FrozenTrial], study: optuna.Study) -> dict[str, float]:
    if len(trials) < MIN_TRIALS or len({t.value for t in trials}) < 2:
        return {}  # too few to contrast, or all tied (Optuna would split importance evenly)
    subset = optuna.create_study(direction=study.direction)
    subset.add_trials(trials)
    varied = [name for name in _sampled(trials) if len({t.params.get(name) for t in trials}) > 1]
    if not varied:
        return {}
    quantile = min(0.5, max(0.1, MIN_TOP_TRIALS / len(trials)))
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental / few-trials warnings: said in the report
        return optuna.importance.get_param_importances(subset, evaluator=evaluator, params=varied)


def _sampled(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    return list(dict.fromkeys(name for trial in trials for name in trial.params))


def _maximize_or_minimize(metric: str) -> str:
    return "maximize" if direction(metric) == "max" else "minimize"


def _plain(value: object) -> object:
    """numpy scalars (from pandas) as the Python values Optuna's distributions check."""
    return value.item() if hasattr(value, "item") else value
