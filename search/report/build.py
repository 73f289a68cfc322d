"""Build a report: read the sweep from MLflow, confirm the top criteria over seeds, write every
file, and log them on the sweep's parent run under ``report/``.

MLflow is the source of truth (``sqlite:`` stores and ``http://`` servers alike). Written to the
output folder: ``report.md`` (figures in ``plots/``), a self-contained ``report.html``,
``trials.csv``, ``confirmation.csv`` and ``best_config.yaml`` (re-runs the winner:
``python -m search.trial --config best_config.yaml``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import yaml

from search.best_trials import best_of, competing, winner
from search.config import ReportSettings, SearchSettings
from search.report import content as report_content
from search.report import importance, tables
from search.report.confirmation import Candidate, Confirmation, Plan, candidate_trials, confirm
from search.report.recorded import recorded_settings, retrain_settings
from search.report.render import write_html, write_markdown
from search.space import SpaceParam
from trainable.common.settings import StorageSettings, TrialSettings, check_folder_name
from trainable.common.tracking import (
    METRIC_TAG,
    SEARCH_ARTIFACT,
    SweepRecord,
    TrackingError,
    download_artifact,
    log_folder,
    read_sweep,
)
from trainable.common.yaml_config import dump_yaml, validate_config


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
    # The schema's default, ./ray_results made absolute (Ray refuses a relative storage path).
    storage_path: Path = field(default_factory=lambda: StorageSettings().path)
    max_concurrent: int = 1
    settings: TrialSettings | None = None  # the report's config; None: flags only


def build_report(request: ReportRequest, out: Path | None) -> Path:
    """Read the sweep, confirm the top criteria over seeds, write every file; return the folder."""
    sweep = read_sweep(request.tracking_uri, request.parent_run_id)
    if request.metric is None:
        request = replace(request, metric=sweep.tags.get(METRIC_TAG, "micro_f1"))
    metric = request.metric
    trials = tables.trial_frame(sweep, metric, request.scope)
    _require_scores(sweep, trials, metric)
    folder = out or _default_folder(sweep.name)
    folder.mkdir(parents=True, exist_ok=True)
    confirmation = _confirm(sweep, trials, request) if request.confirm_top_k else None
    if confirmation is not None:
        best = best_of(trials, confirmation.ranking.leader, metric)
        tables.spreadsheet_safe(confirmation.scores).to_csv(
            folder / "confirmation.csv", index=False
        )
    else:
        best = winner(trials, metric)
    planned = trials["num_train_epochs"].dropna()
    max_t = request.max_t or int(planned.max() if not planned.empty else trials["epochs_run"].max())
    study = importance.study_of(trials, searched_space(request.tracking_uri, sweep), metric)
    content = report_content.sweep_content(
        sweep, trials, best, study, request.tracking_uri, metric, request.scope, max_t,
        request.baseline,
    )  # fmt: skip
    if confirmation is not None:
        report_content.add_confirmation(content, confirmation, trials, metric, request.baseline)
    best_settings = _retrain_settings(request, best["run_id"])
    (folder / "best_config.yaml").write_text(_best_config(best_settings, sweep.name), "utf-8")
    tables.spreadsheet_safe(trials).to_csv(folder / "trials.csv", index=False)
    write_markdown(content, folder)
    write_html(content, folder)
    log_folder(request.tracking_uri, request.parent_run_id, str(folder), "report")
    return folder


def _confirm(sweep: SweepRecord, trials: pd.DataFrame, request: ReportRequest) -> Confirmation:
    rows = candidate_trials(trials, request.metric, request.confirm_top_k, request.baseline)
    candidates = [
        Candidate(
            row["criterion"], tables.setup_label(row), row["run_id"],
            _retrain_settings(request, row["run_id"]),
        )
        for row in rows
    ]  # fmt: skip
    plan = Plan(
        request.tracking_uri, request.resources or {"cpu": 1}, request.storage_path,
        request.max_concurrent,
    )  # fmt: skip
    return confirm(candidates, request.seeds, request.metric, sweep, plan)


def searched_space(uri: str, sweep: SweepRecord) -> dict[str, SpaceParam]:
    """The sweep's search space, from its parent run's ``search.yaml``; empty for a sweep that
    predates that file (the report then has no importance)."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = download_artifact(uri, sweep.parent_run_id, SEARCH_ARTIFACT, scratch)
        except Exception:  # no such file: an older sweep
            return {}
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    source = f"MLflow run {sweep.parent_run_id} {SEARCH_ARTIFACT}"
    return validate_config(data, SearchSettings, source=source).space


def _retrain_settings(request: ReportRequest, run_id: str) -> TrialSettings:
    recorded = recorded_settings(request.tracking_uri, run_id)
    settings = retrain_settings(recorded, request.settings)
    if request.settings is None:  # flags only: track where the report was pointed
        tracking = settings.tracking.model_copy(update={"uri": request.tracking_uri})
        settings = settings.model_copy(update={"tracking": tracking})
    return settings


def _default_folder(sweep_name: str) -> Path:
    """``reports/<sweep name>``: the name comes from an MLflow tag anyone with EDIT can set, so
    it must be one plain folder name, inside ``reports``."""
    try:
        check_folder_name(sweep_name)
    except ValueError as error:
        raise TrackingError(f"the sweep's name tag {sweep_name!r} {error}; use --out") from None
    return Path("reports") / sweep_name


def _best_config(settings: TrialSettings, sweep_name: str) -> str:
    experiment = settings.experiment.model_copy(update={"name": f"{sweep_name}-best"})
    tracking = settings.tracking.model_copy(update={"parent_run_id": None})
    best = settings.model_copy(update={"experiment": experiment, "tracking": tracking})
    header = f"# The winning trial of sweep {sweep_name}, as one training:\n"
    header += "#   python -m search.trial --config best_config.yaml\n"
    return header + dump_yaml(best)


def _require_scores(sweep: SweepRecord, trials: pd.DataFrame, metric: str) -> None:
    if trials.empty:
        raise TrackingError(f"sweep {sweep.name!r} (run {sweep.parent_run_id}) has no trials")
    if competing(trials, metric).empty:
        states = ", ".join(f"{r.trial_id}: {r.status}" for r in trials.itertuples())
        raise TrackingError(
            f"sweep {sweep.name!r} has no scored trial ({len(trials)} trials: {states})"
        )
