"""What the report says: the headline, the winner's details, the tables, the figures and the
notes, assembled into one ``ReportContent`` from the sweep's trials (and the confirmation,
when there is one). Nothing here names a criterion: every criterion and parameter shown comes
from the sweep itself."""

from __future__ import annotations

import tempfile

import pandas as pd

from search.best_trials import best_of, competing
from search.report import plots, tables
from search.report.confirmation import Confirmation
from search.report.render import ReportContent
from trainable.common.tracking import SweepRecord, download_artifact

PER_CLASS_CRITERIA = 3  # criteria compared relation by relation: the best few


def sweep_content(
    sweep: SweepRecord, trials: pd.DataFrame, best: pd.Series, uri: str, metric: str, scope: str,
    max_t: int,
) -> ReportContent:  # fmt: skip
    """The report of the sweep alone: its best single-seed trial is the headline."""
    params = tables.own_params(best)
    setup = ", ".join(
        [best["criterion"], *(f"{k}={v:.3g}" for k, v in params.items()),
         f"{int(best['num_train_epochs'])} epochs", f"lr {best['learning_rate']:.2g}"]
    )  # fmt: skip
    unscored = trials.drop(competing(trials, metric).index)
    notes = [
        f"Scores at each trial's {scope} epoch by selection-split {metric}; dev (KLUE dev) "
        "columns are read at that epoch and never used to choose.",
        *(
            f"Trial {row.trial_id} ({row.criterion}) is not ranked: {row.status}."
            for row in unscored.itertuples()
        ),
        f"MLflow parent run {sweep.parent_run_id} at {uri}.",
    ]  # fmt: skip
    criteria = tables.criterion_table(trials, metric)
    return ReportContent(
        title=f"Loss sweep report — {sweep.name}",
        winner_line=f"Best single-seed trial (single seed, not confirmed): {setup} — selection "
        f"{metric} {best[metric]:.2f}, dev {metric} {best['dev_' + metric]:.2f}, dev AUPRC "
        f"{best['dev_auprc']:.2f}. One training seed cannot tell criteria apart; confirm "
        "with --confirm K --seeds N.",
        winner_details={
            "setup": setup,
            **params,
            "epochs": int(best["num_train_epochs"]),
            "learning rate": best["learning_rate"],
            "scored epoch": int(best["epoch"]),
            f"selection {metric} (sweep seed)": best[metric],
            f"dev {metric} (sweep seed)": best[f"dev_{metric}"],
            "selection AUPRC (sweep seed)": best["auprc"],
            "dev AUPRC (sweep seed)": best["dev_auprc"],
            "MLflow run": f"{uri} run {best['run_id']}",
        },
        criteria=criteria,
        trials=trials.drop(columns=["run_id"]),
        compute=tables.compute_spent(trials, sweep, max_t),
        figures=figures(sweep, trials, criteria["criterion"].tolist(), uri, metric),
        notes=notes,
    )


def figures(
    sweep: SweepRecord, trials: pd.DataFrame, ranked: list[str], uri: str, metric: str
) -> dict[str, tuple[str, bytes]]:
    """File stem → (caption, PNG): the score against each searched criterion parameter, against
    epochs run, the top trials' learning curves, and per-relation F1 of the top criteria
    (``ranked``: the criteria, best first)."""
    shown = {}
    for parameter in tables.criterion_parameters():
        if parameter in trials and pd.to_numeric(trials[parameter], errors="coerce").notna().any():
            owners = ", ".join(sorted(trials.loc[trials[parameter].notna(), "criterion"].unique()))
            shown[f"score_vs_{parameter}"] = (
                f"{metric} vs {parameter} ({owners})",
                plots.score_vs_parameter(trials, parameter, metric),
            )
    top = ranked[:PER_CLASS_CRITERIA]
    return {
        **shown,
        "score_vs_epochs": (f"{metric} vs epochs run", plots.score_vs_epochs(trials, metric)),
        "learning_curves": (
            "learning curves of the top trials",
            plots.learning_curves(sweep, trials, metric),
        ),
        "per_class_f1": (
            f"per-relation dev F1: the best trial of each of the top {len(top)} criteria",
            plots.per_class_f1(_per_class(trials, top, uri, metric)),
        ),
    }


def _per_class(
    trials: pd.DataFrame, criteria: list[str], uri: str, metric: str
) -> dict[str, pd.Series]:
    series = {}
    with tempfile.TemporaryDirectory() as scratch:
        for criterion in criteria:
            best = best_of(trials, criterion, metric)
            if best is None:
                continue
            artifact = f"per_class_f1/epoch_{int(best['epoch']):03d}.csv"
            try:
                path = download_artifact(uri, best["run_id"], artifact, scratch)
            except Exception:  # an artifact store without the file: the figure says "none"
                continue
            table = pd.read_csv(path)
            series[criterion] = table[table["split"] == "dev"].set_index("label")["f1"]
    return series


def add_confirmation(
    content: ReportContent,
    confirmation: Confirmation,
    trials: pd.DataFrame,
    metric: str,
    baseline: str | None,
) -> None:
    """The confirmed verdict becomes the headline; the table and comparisons back it."""
    ranking = confirmation.ranking
    labels = {c: tables.setup_label(best_of(trials, c, metric)) for c in ranking.means}
    baseline = baseline if baseline in ranking.means else None
    content.winner_line = ranking.verdict(baseline=baseline, labels=labels, metric=metric)
    content.confirmation = tables.confirmation_table(confirmation.scores, metric)
    content.verdicts = tables.comparison_lines(ranking, labels, metric)
    mean, sd, seeds = (
        table[ranking.leader] for table in (ranking.means, ranking.sds, ranking.seeds)
    )
    content.winner_details[f"confirmed dev {metric}"] = f"{mean:.2f} ± {sd:.2f} over {seeds} seeds"
    content.notes += [
        f"Confirmation: {confirmation.trained} run(s) trained by this report, the others re-used "
        "from MLflow. Each run is scored on KLUE dev at its best selection-split epoch.",
        *confirmation.notes,
    ]
