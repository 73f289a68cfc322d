"""Build a report: read the sweep from MLflow, confirm the top criteria over seeds, write every
file, and log them on the sweep's parent run under ``report/``.

MLflow is the source of truth (``sqlite:`` stores and ``http://`` servers alike). Written to the
output folder: ``report.md`` (figures in ``plots/``), a self-contained ``report.html``,
``trials.csv``, ``confirmation.csv`` and ``best_config.yaml`` (re-runs the winner:
``python -m search.trial --config best_config.yaml``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import yaml

from search.best_trials import best_of, competing, winner
from search.config import ReportSettings, SearchSettings
from search.confirmation.statistics import mean_sd
from search.confirmation.training import (
    Candidate,
    Confirmation,
    Plan,
    RaceDesign,
    confirm,
)
from search.report import champion, importance, tables
from search.report import content as report_content
from search.report.recorded import recorded_settings, retrain_settings
from search.report.render import write_html, write_markdown
from search.report.tables import criterion_table
from search.space import SpaceParam
from search.tracking import SweepRecord, download_artifact, experiment_name, log_folder, read_sweep
from trainable.common.redact import redact
from trainable.common.settings import StorageSettings, TrialSettings
from trainable.common.tracking import METRIC_TAG, SEARCH_ARTIFACT, TrackingError
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
    looks: tuple[int, ...] = tuple(ReportSettings.model_fields["looks"].default)
    margin: float = ReportSettings.model_fields["margin"].default
    baseline: str | None = ReportSettings.model_fields["baseline"].default
    resources: dict | None = None
    # The schema's default, ./ray_results made absolute (Ray refuses a relative storage path).
    storage_path: Path = field(default_factory=lambda: StorageSettings().path)
    max_concurrent: int = 1
    settings: TrialSettings | None = None  # the report's config; None: flags only
    register: bool = True  # register the recommended criterion's model (needs confirmation)
    registered_model: str | None = None  # its name; None: the sweep's MLflow experiment name


@dataclass(frozen=True)
class Report:
    folder: Path
    model_line: str  # what became of the model: registered (name, version, alias) or why not


def build_report(request: ReportRequest, out: Path | None) -> Report:
    """Read the sweep, confirm the top criteria over seeds, register the recommended model,
    write every file."""
    sweep = read_sweep(request.tracking_uri, request.parent_run_id)
    name = sweep.checked_name
    if request.metric is None:
        request = replace(request, metric=sweep.tags.get(METRIC_TAG, "micro_f1"))
    metric = request.metric
    trials = tables.trial_frame(sweep, metric, request.scope)
    _require_scores(sweep, trials, metric)
    folder = out or Path("reports") / name
    folder.mkdir(parents=True, exist_ok=True)
    confirmation = _confirm(sweep, trials, request) if request.confirm_top_k else None
    if confirmation is not None:
        best = best_of(trials, confirmation.recommended, metric)
        tables.spreadsheet_safe(confirmation.scores).to_csv(
            folder / "confirmation.csv", index=False
        )
    else:
        best = winner(trials, metric)
    planned = trials["num_train_epochs"].dropna()
    max_t = request.max_t or int(planned.max() if not planned.empty else trials["epochs_run"].max())
    study = importance.study_of(trials, searched_space(request.tracking_uri, sweep), metric)
    view = report_content.SweepView(
        sweep, trials, study, request.tracking_uri, metric, request.baseline
    )
    content = report_content.sweep_content(view, best, request.scope, max_t)
    model_line = "model: not registered: nothing was confirmed (--confirm 0)"
    if confirmation is not None:
        report_content.add_confirmation(content, confirmation, trials, metric)
        model_line = "model: not registered (--no-register)"
        kept = models_root(request.storage_path, sweep.parent_run_id)
        try:
            if request.register:
                model_line = _register(request, sweep, trials, confirmation, content.winner_line)
        finally:  # decided: the kept models go (a report interrupted before keeps them)
            _delete_kept_models(kept)
    content.notes.append(model_line[0].upper() + model_line[1:])
    best_settings = _retrain_settings(request, best["run_id"])
    (folder / "best_config.yaml").write_text(
        _best_config(best_settings, name, best["run_id"]), "utf-8"
    )
    tables.spreadsheet_safe(trials).to_csv(folder / "trials.csv", index=False)
    write_markdown(content, folder)
    write_html(content, folder)
    log_folder(request.tracking_uri, request.parent_run_id, str(folder), "report")
    return Report(folder, model_line)


def _register(
    request: ReportRequest,
    sweep: SweepRecord,
    trials: pd.DataFrame,
    confirmation: Confirmation,
    verdict: str,
) -> str:
    """Register the recommended criterion's model (``search.report.champion``); its line."""
    metric = request.metric
    chosen = champion.choose_champion(confirmation, metric)
    params = _retrain_settings(request, best_of(trials, chosen.criterion, metric)["run_id"])
    dev = confirmation.scores[confirmation.scores["criterion"] == chosen.criterion]
    mean, sd = mean_sd(dev[f"dev_{metric}"].tolist())
    tags = {
        "criterion": chosen.criterion,
        **{f"criterion.{k}": str(v) for k, v in params.criterion.params.items() if v is not None},
        "verdict": verdict,
        "decision": confirmation.decision,
        f"confirmed.dev_{metric}": f"{mean:.2f} ± {sd:.2f}",
        "confirmed.seeds": ",".join(str(seed) for seed in dev["seed"]),
    }
    name = request.registered_model or experiment_name(request.tracking_uri, sweep.parent_run_id)
    try:
        _, line = champion.register_champion(
            chosen,
            models_root(request.storage_path, sweep.parent_run_id),
            uri=request.tracking_uri,
            name=name,
            parent_run_id=sweep.parent_run_id,
            tags=tags,
        )
    except (TrackingError, OSError) as error:  # the report is still written
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        line = f"model: not registered: {redact(first)[:300]}"
    return line


def _delete_kept_models(kept: Path) -> None:
    """This sweep's kept models, and their shared folder once no other sweep's are in it."""
    shutil.rmtree(kept, ignore_errors=True)
    with contextlib.suppress(OSError):  # another sweep's report keeps models there: stays
        kept.parent.rmdir()


def models_root(storage_path: Path, parent_run_id: str) -> Path:
    """Where a sweep's confirmation runs keep their best models until one is registered."""
    return storage_path.resolve() / "confirmed-models" / parent_run_id


def _confirm(sweep: SweepRecord, trials: pd.DataFrame, request: ReportRequest) -> Confirmation:
    rows = candidate_trials(trials, request.metric, request.confirm_top_k, request.baseline)
    candidates = [
        Candidate(
            row["criterion"],
            tables.setup_label(row),
            row["run_id"],
            _retrain_settings(request, row["run_id"], trains=True),
        )
        for row in rows
    ]
    plan = Plan(
        request.tracking_uri,
        request.resources or {"cpu": 1},
        request.storage_path,
        request.max_concurrent,
        models_root(request.storage_path, sweep.parent_run_id),
    )
    design = RaceDesign(tuple(request.looks), request.margin)
    return confirm(candidates, design, request.metric, request.baseline, sweep, plan)


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


def _retrain_settings(request: ReportRequest, run_id: str, trains: bool = False) -> TrialSettings:
    recorded = recorded_settings(request.tracking_uri, run_id)
    settings = retrain_settings(recorded, request.settings, trains=trains)
    if request.settings is None:  # flags only: track where the report was pointed
        tracking = settings.tracking.model_copy(update={"uri": request.tracking_uri})
        settings = settings.model_copy(update={"tracking": tracking})
    return settings


def _best_config(settings: TrialSettings, sweep_name: str, run_id: str) -> str:
    """The winner as a config file. Loading a config expands ``${VAR}``, so a value read from
    MLflow (run ``run_id``) that holds one is refused rather than written."""
    experiment = settings.experiment.model_copy(update={"name": f"{sweep_name}-best"})
    tracking = settings.tracking.model_copy(update={"parent_run_id": None})
    best = settings.model_copy(update={"experiment": experiment, "tracking": tracking})
    body = dump_yaml(best)
    if "${" in body:
        line = next(line for line in body.splitlines() if "${" in line)
        raise TrackingError(
            f"MLflow run {run_id}: {line.strip()!r} would be expanded when best_config.yaml "
            "is loaded; a value from MLflow may not hold '${'"
        )
    header = f"# The winning trial of sweep {sweep_name}, as one training:\n"
    header += "#   python -m search.trial --config best_config.yaml\n"
    return header + body


def _require_scores(sweep: SweepRecord, trials: pd.DataFrame, metric: str) -> None:
    if trials.empty:
        raise TrackingError(f"sweep {sweep.name!r} (run {sweep.parent_run_id}) has no trials")
    if competing(trials, metric).empty:
        states = ", ".join(f"{r.trial_id}: {r.status}" for r in trials.itertuples())
        raise TrackingError(
            f"sweep {sweep.name!r} has no scored trial ({len(trials)} trials: {states})"
        )


def candidate_trials(
    trials: pd.DataFrame, metric: str, top_k: int, baseline: str | None
) -> list[pd.Series]:
    """The best trial of each of the top-k criteria, then the baseline's if not among them."""
    ranking = criterion_table(trials, metric)["criterion"].tolist()
    chosen = ranking[:top_k]
    if baseline in ranking and baseline not in chosen:
        chosen.append(baseline)
    return [best_of(trials, criterion, metric) for criterion in chosen]
