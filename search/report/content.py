"""What the report says: the headline, the winner's details, the tables, the figures and the
notes, assembled into one ``ReportContent`` from the sweep's trials (and the confirmation,
when there is one). Nothing here names a criterion: every criterion and parameter shown comes
from the sweep itself."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from search.best_trials import best_of, competing, winner
from search.confirmation.statistics import mean_sd
from search.confirmation.tables import claim_lines, confirmation_table
from search.confirmation.training import Confirmation
from search.markdown import short
from search.report import importance, plots, tables
from search.report.render import ReportContent
from search.tracking import SweepRecord, download_artifact

if TYPE_CHECKING:  # the study comes from search.report.importance, Optuna's one user here
    import optuna


@dataclass(frozen=True)
class SweepView:
    """What the report's pages are made of: the sweep read back from MLflow at ``uri``, its
    trials, the Optuna study rebuilt from them, the ranking metric and the baseline criterion."""

    sweep: SweepRecord
    trials: pd.DataFrame
    study: optuna.Study
    uri: str
    metric: str
    baseline: str | None


def sweep_content(view: SweepView, best: pd.Series, scope: str, max_t: int) -> ReportContent:
    """The report of the sweep alone: its best single-seed trial is the headline."""
    sweep, trials, study, uri, metric = view.sweep, view.trials, view.study, view.uri, view.metric
    params = tables.own_params(best)
    setup = ", ".join(
        [
            best["criterion"],
            *(f"{k}={short(v)}" for k, v in params.items()),
            f"{short(best['num_train_epochs'])} epochs",
            f"lr {short(best['learning_rate'])}",
        ]
    )
    unscored = trials.drop(competing(trials, metric).index)
    notes = [
        f"Scores at each trial's {scope} epoch by selection-split {metric}; dev (KLUE dev) "
        "columns are read at that epoch and never used to choose.",
        f"Parameter importance: Optuna's PED-ANOVA over the {len(study.trials)} scored trials "
        "(conditional parameters included; fewer than "
        f"{importance.MIN_TRIALS} trials give no column). It describes this sweep, it tests "
        "nothing.",
        *(
            f"Trial {row.trial_id} ({row.criterion}) is not ranked: {row.status}."
            for row in unscored.itertuples()
        ),
        f"MLflow parent run {sweep.parent_run_id} at {uri}.",
    ]
    criteria = tables.criterion_table(trials, metric)
    return ReportContent(
        title=f"Loss sweep report — {sweep.name}",
        winner_line=f"Best single-seed trial (single seed, not confirmed): {setup} — selection "
        f"{metric} {short(best[metric])}, dev {metric} {short(best['dev_' + metric])}, dev "
        f"AUPRC {short(best['dev_auprc'])}. One training seed cannot tell criteria apart; "
        "confirm with --confirm K.",
        winner_details={
            "setup": setup,
            **params,
            "epochs": best["num_train_epochs"],
            "learning rate": best["learning_rate"],
            "scored epoch": best["epoch"],
            f"selection {metric} (sweep seed)": best[metric],
            f"dev {metric} (sweep seed)": best[f"dev_{metric}"],
            "selection AUPRC (sweep seed)": best["auprc"],
            "dev AUPRC (sweep seed)": best["dev_auprc"],
            "MLflow run": f"{uri} run {best['run_id']}",
        },
        criteria=criteria,
        importance=importance.importance_table(study),
        trials=tables.shown_trials(trials, metric),
        compute=tables.compute_spent(trials, sweep, max_t),
        figures=figures(view, best),
        notes=notes,
    )


def figures(view: SweepView, best: pd.Series) -> dict[str, tuple[str, bytes]]:
    """File stem → (caption, PNG): the trials in parallel coordinates, the score against each
    sampled criterion parameter and the learning rate, against epochs run, the top trials'
    learning curves, and per-relation F1 of the winner against the best ``baseline`` trial."""
    sweep, trials, study, metric = view.sweep, view.trials, view.study, view.metric
    shown = {
        "parallel_coordinates": (
            f"every scored trial: sampled values and {metric} (darker: better)",
            plots.axes_png(importance.parallel_coordinates(study), "no scored trials"),
        )
    }
    for parameter in [*tables.criterion_parameters(), "learning_rate"]:
        values = trials[parameter] if parameter in trials else pd.Series(dtype=float)
        if pd.to_numeric(values, errors="coerce").nunique() > 1:  # searched, and a number
            owners = ", ".join(sorted(trials.loc[trials[parameter].notna(), "criterion"].unique()))
            shown[f"score_vs_{parameter}"] = (
                f"{metric} vs {parameter} ({owners})",
                plots.score_vs_parameter(trials, parameter, metric),
            )
    compared = _per_class_rows(trials, best, metric, view.baseline)
    return {
        **shown,
        "score_vs_epochs": (f"{metric} vs epochs run", plots.score_vs_epochs(trials, metric)),
        "learning_curves": (
            "learning curves of the top trials",
            plots.learning_curves(sweep, trials, metric),
        ),
        "per_class_f1": (
            "per-relation dev F1: " + " vs ".join(compared),
            plots.per_class_f1(_per_class(compared, view.uri)),
        ),
    }


def _per_class_rows(
    trials: pd.DataFrame, best: pd.Series, metric: str, baseline: str | None
) -> dict[str, pd.Series]:
    """The winner and the best trial of the baseline criterion (what every loss must beat), by
    label; a baseline winner, or no baseline, is compared with the best other criterion."""
    others = trials[trials["criterion"] != best["criterion"]]
    other = best_of(others, baseline, metric) if baseline else None
    if other is None:
        other = winner(others, metric)
    rows = {f"winner {tables.setup_label(best)}": best}
    if other is not None:
        rows[tables.setup_label(other)] = other
    return rows


def _per_class(rows: dict[str, pd.Series], uri: str) -> dict[str, pd.Series]:
    series = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, row in rows.items():
            artifact = f"per_class_f1/epoch_{int(row['epoch']):03d}.csv"
            try:
                path = download_artifact(uri, row["run_id"], artifact, scratch)
            except Exception:  # an artifact store without the file: the figure says "none"
                continue
            table = pd.read_csv(path)
            series[label] = table[table["split"] == "dev"].set_index("label")["f1"]
    return series


def add_confirmation(
    content: ReportContent,
    confirmation: Confirmation,
    trials: pd.DataFrame,
    metric: str,
) -> None:
    """The race's verdict becomes the headline; the table and every pair's claim back it."""
    scores = confirmation.scores
    criteria = list(dict.fromkeys(scores["criterion"]))
    labels = {c: tables.setup_label(best_of(trials, c, metric)) for c in criteria}
    result = confirmation.race
    if result is None:
        content.winner_line = f"Only {labels[criteria[0]]} was confirmed; nothing was compared."
    else:
        content.winner_line = result.verdict(labels=labels)
        content.verdicts = claim_lines(result, labels, metric)
    content.confirmation = confirmation_table(scores, metric)
    chosen = scores[scores["criterion"] == confirmation.recommended][f"dev_{metric}"]
    mean, sd = mean_sd(chosen.tolist())
    content.winner_details[f"confirmed dev {metric}"] = (
        f"{mean:.2f} ± {sd:.2f} over {len(chosen)} seeds"
    )
    content.notes += [
        f"Confirmation: {confirmation.trained} run(s) trained by this report, the others re-used "
        "from MLflow. Each run is scored on KLUE dev at its best selection-split epoch; seeds "
        "were added look by look, and a criterion shown worse received no more.",
    ]
