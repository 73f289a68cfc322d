"""``python -m search.report``: the best loss setup by micro-F1, the evidence, and how sure we are.

    python -m search.report --config configs/quickstart.yaml [--set key=value ...]
    python -m search.report --tracking-uri URI (--experiment NAME | --run-id PARENT_RUN_ID)
    options: [--scope best|last] [--out DIR] [--confirm K --seeds N]

Reads the sweep from MLflow (the source of truth: ``sqlite:`` stores and ``http://`` servers
alike) and writes ``report.md``, a self-contained ``report.html``, ``trials.csv`` and
``best_config.yaml`` (re-runs the winner: ``python -m trainable.train --config``) to ``--out``
(default ``reports/<sweep name>/``), then logs them on the sweep's parent run under ``report/``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import yaml

from search import report_plots, report_tables
from search.config import ReportSettings, load_sweep_config
from search.confirm import (
    Candidate,
    Confirmation,
    ConfirmationError,
    Plan,
    candidate_trials,
    confirm,
)
from search.report_render import ReportContent, write_html, write_markdown
from trainable.common.settings import TrialSettings
from trainable.common.tracking import (
    METRIC_TAG,
    SweepRecord,
    TrackingError,
    download_artifact,
    find_sweep_run,
    log_folder,
    read_sweep,
)
from trainable.common.yaml_config import (
    ConfigError,
    add_config_arguments,
    dump_yaml,
    validate_config,
)


@dataclass
class ReportRequest:
    """What to report on and how; built from a sweep config or from plain flags."""

    tracking_uri: str
    parent_run_id: str
    metric: str | None = None  # None: the sweep's own (its parent run's tag), else micro_f1
    scope: str = "best"
    max_t: int | None = None
    confirm_top_k: int = ReportSettings.model_fields["confirm_top_k"].default
    seeds: int = ReportSettings.model_fields["seeds"].default
    baseline: str | None = ReportSettings.model_fields["baseline"].default
    resources: dict | None = None
    storage_path: Path = Path("ray_results")
    max_concurrent: int = 1


def build_report(request: ReportRequest, out: Path | None) -> Path:
    """Read the sweep, confirm the top criteria over seeds, write every file; return the folder."""
    sweep = read_sweep(request.tracking_uri, request.parent_run_id)
    if request.metric is None:
        request = replace(request, metric=sweep.tags.get(METRIC_TAG, "micro_f1"))
    trials = report_tables.trial_frame(sweep, request.metric, request.scope)
    _require_scores(sweep, trials, request.metric)
    folder = out or Path("reports") / sweep.name
    folder.mkdir(parents=True, exist_ok=True)
    confirmation = _confirm(sweep, trials, request) if request.confirm_top_k else None
    if confirmation is not None:
        best = report_tables.best_of(trials, confirmation.ranking.leader, request.metric)
        confirmation.scores.to_csv(folder / "confirmation.csv", index=False)
    else:
        best = report_tables.winner(trials, request.metric)
    best_settings = _trial_settings(request.tracking_uri, best["run_id"])
    content = _content(sweep, trials, best, request)
    if confirmation is not None:
        _add_confirmation(content, confirmation, trials, request)
    (folder / "best_config.yaml").write_text(_best_config(best_settings, sweep.name), "utf-8")
    trials.to_csv(folder / "trials.csv", index=False)
    write_markdown(content, folder)
    write_html(content, folder)
    log_folder(request.tracking_uri, request.parent_run_id, str(folder), "report")
    return folder


def _content(sweep: SweepRecord, trials: pd.DataFrame, best: pd.Series, request: ReportRequest):
    metric = request.metric
    max_t = request.max_t or int(trials["num_train_epochs"].max() or trials["epochs_run"].max())
    params = report_tables.own_params(best)
    setup = ", ".join(
        [best["criterion"], *(f"{k}={v:.3g}" for k, v in params.items()),
         f"{int(best['num_train_epochs'])} epochs", f"lr {best['learning_rate']:.2g}"]
    )  # fmt: skip
    plots = report_plots
    figures = {
        "score_vs_gamma": (
            "micro-F1 vs gamma (focal)",
            plots.score_vs_parameter(trials, "focal", "gamma", metric),
        ),
        "score_vs_smoothing": (
            "micro-F1 vs smoothing (label smoothing)",
            plots.score_vs_parameter(trials, "label_smoothing", "smoothing", metric),
        ),
        "score_vs_epochs": ("micro-F1 vs epochs run", plots.score_vs_epochs(trials, metric)),
        "learning_curves": (
            "learning curves of the top trials",
            plots.learning_curves(sweep, trials, metric),
        ),
        "per_class_f1": (
            "per-relation dev F1: best CE vs best focal vs best label smoothing",
            plots.per_class_f1(_per_class(sweep, trials, request)),
        ),
    }
    unscored = trials[trials[metric].isna() | (trials["status"] == "failed")]
    notes = [
        f"Scores at each trial's {request.scope} epoch by selection-split {metric}; dev (KLUE dev) "
        "columns are read at that epoch and never used to choose.",
        *(
            f"Trial {row.trial_id} ({row.criterion}) is not ranked: {row.status}."
            for row in unscored.itertuples()
        ),
        f"MLflow parent run {sweep.parent_run_id} at {request.tracking_uri}.",
    ]  # fmt: skip
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
            "MLflow run": f"{request.tracking_uri} run {best['run_id']}",
        },
        criteria=report_tables.criterion_table(trials, metric),
        trials=trials.drop(columns=["run_id"]),
        compute=report_tables.compute_spent(trials, sweep, max_t),
        figures=figures,
        notes=notes,
    )


def _per_class(sweep: SweepRecord, trials: pd.DataFrame, request: ReportRequest) -> dict:
    series = {}
    with tempfile.TemporaryDirectory() as scratch:
        for criterion in ("ce", "focal", "label_smoothing"):
            best = report_tables.best_of(trials, criterion, request.metric)
            if best is None:
                continue
            artifact = f"per_class_f1/epoch_{int(best['epoch']):03d}.csv"
            try:
                path = download_artifact(request.tracking_uri, best["run_id"], artifact, scratch)
            except Exception:  # an artifact store without the file: the figure says "none"
                continue
            table = pd.read_csv(path)
            dev = table[table["split"] == "dev"].set_index("label")["f1"]
            series[criterion] = dev
    return series


def _confirm(sweep: SweepRecord, trials: pd.DataFrame, request: ReportRequest) -> Confirmation:
    rows = candidate_trials(trials, request.metric, request.confirm_top_k, request.baseline)
    candidates = [
        Candidate(
            row["criterion"], report_tables.setup_label(row), row["run_id"],
            _trial_settings(request.tracking_uri, row["run_id"]),
        )
        for row in rows
    ]  # fmt: skip
    plan = Plan(
        request.tracking_uri, request.resources or {"cpu": 1}, request.storage_path,
        request.max_concurrent,
    )  # fmt: skip
    return confirm(candidates, request.seeds, request.metric, sweep, plan)


def _add_confirmation(
    content: ReportContent, confirmation: Confirmation, trials: pd.DataFrame, request
) -> None:
    """The confirmed verdict becomes the headline; the table and comparisons back it."""
    metric, ranking = request.metric, confirmation.ranking
    labels = {
        c: report_tables.setup_label(report_tables.best_of(trials, c, metric))
        for c in ranking.means
    }
    baseline = request.baseline if request.baseline in ranking.means else None
    content.winner_line = ranking.verdict(baseline=baseline, labels=labels, metric=metric)
    content.confirmation = report_tables.confirmation_table(confirmation.scores, metric)
    content.verdicts = report_tables.comparison_lines(ranking, labels, metric)
    mean, sd, seeds = (
        table[ranking.leader] for table in (ranking.means, ranking.sds, ranking.seeds)
    )
    content.winner_details[f"confirmed dev {metric}"] = f"{mean:.2f} ± {sd:.2f} over {seeds} seeds"
    content.notes += [
        f"Confirmation: {confirmation.trained} run(s) trained by this report, the others re-used "
        "from MLflow. Each run is scored on KLUE dev at its best selection-split epoch.",
        *confirmation.notes,
    ]


def _trial_settings(uri: str, run_id: str) -> TrialSettings:
    with tempfile.TemporaryDirectory() as scratch:
        path = download_artifact(uri, run_id, "trial_settings.yaml", scratch)
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return validate_config(data, TrialSettings, source=f"MLflow run {run_id} trial_settings.yaml")


def _best_config(settings: TrialSettings, sweep_name: str) -> str:
    experiment = settings.experiment.model_copy(update={"name": f"{sweep_name}-best"})
    tracking = settings.tracking.model_copy(update={"parent_run_id": None})
    best = settings.model_copy(update={"experiment": experiment, "tracking": tracking})
    header = f"# The winning trial of sweep {sweep_name}, as one training:\n"
    header += "#   python -m trainable.train --config best_config.yaml\n"
    return header + dump_yaml(best)


def _require_scores(sweep: SweepRecord, trials: pd.DataFrame, metric: str) -> None:
    if trials.empty:
        raise TrackingError(f"sweep {sweep.name!r} (run {sweep.parent_run_id}) has no trials")
    if report_tables.ranked(trials, metric).empty:
        states = ", ".join(f"{r.trial_id}: {r.status}" for r in trials.itertuples())
        raise TrackingError(
            f"sweep {sweep.name!r} has no scored trial ({len(trials)} trials: {states})"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        request = _request(args)
        folder = build_report(request, Path(args.out) if args.out else None)
    except (ConfigError, TrackingError, ConfirmationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished confirmation seeds are kept in MLflow; run the same report "
            "again to train only the rest",
            file=sys.stderr,
        )
        return 130
    print((folder / "report.md").read_text(encoding="utf-8").split("\n## Figures")[0])
    print(f"report written to {folder}/ (report.html, report.md, trials.csv, best_config.yaml)")
    return 0


def _request(args: argparse.Namespace) -> ReportRequest:
    if args.config:
        config = load_sweep_config(args.config, args.set)
        if not config.tracking.uri:
            raise ConfigError(args.config, ["tracking.uri: the report reads the sweep from MLflow"])
        report = config.report
        return ReportRequest(
            tracking_uri=config.tracking.uri,
            parent_run_id=find_sweep_run(
                config.tracking.uri, config.tracking.experiment, config.experiment.name, args.run_id
            ),
            metric=config.search.metric,
            scope=args.scope or report.scope, max_t=config.max_epochs(),
            confirm_top_k=report.confirm_top_k if args.confirm is None else args.confirm,
            seeds=args.seeds or report.seeds, baseline=report.baseline,
            resources={"cpu": config.resources.cpu, "gpu": config.resources.gpu},
            storage_path=config.storage.path, max_concurrent=config.search.max_concurrent,
        )  # fmt: skip
    if not args.tracking_uri or not (args.experiment or args.run_id):
        raise ConfigError(
            "search.report", ["give --config, or --tracking-uri with --experiment or --run-id"]
        )
    return ReportRequest(
        tracking_uri=args.tracking_uri,
        parent_run_id=find_sweep_run(args.tracking_uri, args.experiment or "", None, args.run_id),
        scope=args.scope or "best", **_confirm_flags(args),
    )  # fmt: skip


def _confirm_flags(args: argparse.Namespace) -> dict[str, int]:
    flags = {"confirm_top_k": args.confirm, "seeds": args.seeds}
    return {key: value for key, value in flags.items() if value is not None}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m search.report", description=__doc__.splitlines()[0]
    )
    add_config_arguments(parser, "report.confirm_top_k=2", required=False)
    parser.add_argument("--tracking-uri", help="MLflow URI (sqlite:///mlflow.db, http://host:5000)")
    parser.add_argument("--experiment", help="MLflow experiment: its newest sweep is reported")
    parser.add_argument("--run-id", help="the sweep's parent run id")
    parser.add_argument(
        "--scope", choices=("best", "last"), help="score trials at their best or last epoch"
    )
    parser.add_argument("--out", help="output folder (default reports/<sweep name>/)")
    parser.add_argument(
        "--confirm",
        type=int,
        metavar="K",
        help="re-train the top-K criteria (plus ce) over seeds; 0: single seed, not confirmed",
    )
    parser.add_argument("--seeds", type=int, metavar="N", help="seeds per criterion (>= 2)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
