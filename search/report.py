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
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from search import report_plots, report_tables
from search.config import load_sweep_config
from search.report_render import ReportContent, write_html, write_markdown
from search.space import max_epochs
from trainable.settings import TrialSettings
from trainable.tracking import (
    SweepRecord,
    TrackingError,
    download_artifact,
    find_sweep_run,
    log_folder,
    read_sweep,
)
from trainable.yaml_config import ConfigError, add_config_arguments, dump_yaml, validate_config


@dataclass
class ReportRequest:
    """What to report on and how; built from a sweep config or from plain flags."""

    tracking_uri: str
    parent_run_id: str
    metric: str = "micro_f1"
    mode: str = "max"
    scope: str = "best"
    max_t: int | None = None
    confirm_top_k: int = 0
    seeds: int = 3
    resources: dict | None = None
    storage_path: Path = Path("ray_results")
    max_concurrent: int = 1


def build_report(request: ReportRequest, out: Path | None) -> Path:
    """Read the sweep, compute, (optionally confirm), write every file; return the folder."""
    sweep = read_sweep(request.tracking_uri, request.parent_run_id)
    trials = report_tables.trial_frame(sweep, request.metric, request.mode, request.scope)
    _require_scores(sweep, trials, request.metric)
    best = report_tables.winner(trials, request.metric, request.mode)
    folder = out or Path("reports") / sweep.name
    folder.mkdir(parents=True, exist_ok=True)
    best_settings = _trial_settings(request.tracking_uri, best["run_id"])
    content = _content(sweep, trials, best, request)
    if request.confirm_top_k:
        _add_confirmation(content, sweep, trials, request, folder)
    (folder / "best_config.yaml").write_text(_best_config(best_settings, sweep.name), "utf-8")
    trials.to_csv(folder / "trials.csv", index=False)
    write_markdown(content, folder)
    write_html(content, folder)
    log_folder(request.tracking_uri, request.parent_run_id, str(folder), "report")
    return folder


def _content(sweep: SweepRecord, trials: pd.DataFrame, best: pd.Series, request: ReportRequest):
    metric = request.metric
    max_t = request.max_t or int(trials["num_train_epochs"].max() or trials["epochs_run"].max())
    params = {
        key: best[key]
        for key in ("gamma", "smoothing", "beta", "epsilon", "tau")
        if key in best and pd.notna(best[key])
    }
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
        winner_line=f"Best loss setup: {setup} — selection {metric} {best[metric]:.2f}, "
        f"dev {metric} {best['test_' + metric]:.2f}, dev AUPRC {best['test_auprc']:.2f}",
        winner_details={
            "criterion": best["criterion"],
            **params,
            "epochs": int(best["num_train_epochs"]),
            "learning rate": best["learning_rate"],
            "scored epoch": int(best["epoch"]),
            f"selection {metric}": best[metric],
            f"dev {metric}": best[f"test_{metric}"],
            "selection AUPRC": best["auprc"],
            "dev AUPRC": best["test_auprc"],
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
            best = report_tables.best_of(trials, criterion, request.metric, request.mode)
            if best is None:
                continue
            artifact = f"per_class_f1/epoch_{int(best['epoch']):03d}.csv"
            try:
                path = download_artifact(request.tracking_uri, best["run_id"], artifact, scratch)
            except Exception:  # an artifact store without the file: the figure says "none"
                continue
            table = pd.read_csv(path)
            dev = table[table["split"] == "test"].set_index("label")["f1"]
            series[criterion] = dev
    return series


def _add_confirmation(content, sweep, trials, request: ReportRequest, folder: Path) -> None:
    from search.confirm import confirm, summary_table  # Ray and torch only when confirming

    ranking = report_tables.criterion_table(trials, request.metric)["criterion"].tolist()
    candidates = {}
    for criterion in ranking[: request.confirm_top_k]:
        best = report_tables.best_of(trials, criterion, request.metric, request.mode)
        candidates[criterion] = _trial_settings(request.tracking_uri, best["run_id"])
    scores, comparisons = confirm(
        candidates, seeds=request.seeds, metric=request.metric,
        resources=request.resources or {"cpu": 1}, storage_path=request.storage_path,
        name=f"{sweep.name}-confirm-{time.strftime('%Y%m%d-%H%M%S')}",
        max_concurrent=request.max_concurrent,
    )  # fmt: skip
    scores.to_csv(folder / "confirmation.csv", index=False)
    content.confirmation = summary_table(scores, request.metric)
    content.verdicts = [comparison.verdict() for comparison in comparisons]
    content.winner_details["confirmation"] = "; ".join(content.verdicts)


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
    except (ConfigError, TrackingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
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
            metric=config.search.metric, mode=config.search.mode,
            scope=args.scope or report.scope, max_t=max_epochs(config),
            confirm_top_k=report.confirm_top_k if args.confirm is None else args.confirm,
            seeds=args.seeds or report.seeds,
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
        scope=args.scope or "best", confirm_top_k=args.confirm or 0, seeds=args.seeds or 3,
    )  # fmt: skip


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
        "--confirm", type=int, metavar="K", help="re-train the top-K criteria over seeds"
    )
    parser.add_argument("--seeds", type=int, metavar="N", help="seeds per criterion (>= 2)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
