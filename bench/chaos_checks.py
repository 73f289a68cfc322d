"""What the chaos bench checks after each faulted sweep and report, against a fault-free run of
the same sweep seed (``bench/chaos.py``). Each check returns the violations it found, one
sentence each, empty when none.

Trials of two runs are matched by what was sampled (criterion, its parameters, learning rate,
epochs), not by Tune's trial ids, which differ between runs. The trainable is deterministic per
seed on CPU, so a matched trial must report the very same floats at every epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd
from mlflow.tracking import MlflowClient

from search.checkpoint_retention import CHECKPOINT_GLOB
from trainable.common.tracking.client import TRIAL_ID_TAG

SAMPLED = ("criterion", "gamma", "smoothing", "learning_rate", "num_train_epochs")
SCORES = ("auprc", "micro_f1", "dev_auprc", "dev_micro_f1")
# What differs between two runs of the same trials by construction: ids, times, run links.
RUN_SPECIFIC = ("trial_id", "run_id", "start", "end", "wall", "duration")


def trial_key(values: dict) -> tuple:
    """The sampled values of a trial, as MLflow params hold them (strings)."""
    return tuple((name, str(values[name])) for name in SAMPLED if values.get(name) is not None)


@dataclass
class SweepView:
    """A sweep as MLflow holds it: trial id → run, and each run's per-epoch scores."""

    parents: list
    runs_by_trial: dict[str, list] = field(default_factory=dict)
    scores: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)

    def key(self, trial_id: str) -> tuple:
        return trial_key(self.runs_by_trial[trial_id][0].data.params)

    def by_key(self) -> dict[tuple, str]:
        return {self.key(trial): trial for trial in self.runs_by_trial}


def read_sweep(client: MlflowClient, experiment: str) -> SweepView:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return SweepView(parents=[])
    runs = client.search_runs([found.experiment_id], max_results=1000)
    view = SweepView(parents=[r for r in runs if "mlflow.parentRunId" not in r.data.tags])
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags and run.data.tags.get("stage") != "confirmation":
            view.runs_by_trial.setdefault(run.data.tags.get(TRIAL_ID_TAG, ""), []).append(run)
    for trial, runs_of_trial in view.runs_by_trial.items():
        run_id = runs_of_trial[0].info.run_id
        view.scores[trial] = {
            name: sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))
            for name in SCORES
        }
    return view


def check_sweep(
    view: SweepView, baseline: SweepView, num_samples: int, reported_before: set[tuple]
) -> list[str]:
    """Invariants 1 and 2: identical per-epoch scores; nothing lost, nothing twice."""
    problems = []
    if len(view.parents) != 1 or view.parents[0].info.status != "FINISHED":
        states = [p.info.status for p in view.parents]
        problems.append(f"expected one FINISHED parent run, found {states}")
    if len(view.runs_by_trial) != num_samples:
        problems.append(f"{len(view.runs_by_trial)} trial ids in MLflow, {num_samples} planned")
    reference = baseline.by_key()
    for trial, runs in sorted(view.runs_by_trial.items()):
        if len(runs) != 1:
            problems.append(f"trial {trial}: {len(runs)} child runs, expected exactly one")
        status = runs[0].info.status
        if status != "FINISHED":
            problems.append(f"trial {trial}: its run is {status}, not FINISHED")
        planned = int(runs[0].data.params.get("num_train_epochs", 0))
        for name, points in view.scores[trial].items():
            steps = [step for step, _ in points]
            if steps != list(range(1, planned + 1)):
                problems.append(
                    f"trial {trial}: {name} history has epochs {steps}, expected each of "
                    f"1..{planned} once"
                )
                break
        twin = reference.get(view.key(trial))
        if twin is None:
            continue
        for name, points in view.scores[trial].items():
            expected = dict(baseline.scores[twin][name])
            for step, value in dict(points).items():
                if step in expected and value != expected[step]:
                    problems.append(
                        f"trial {trial} {dict(view.key(trial))}: epoch {step} {name} {value!r} "
                        f"!= fault-free {expected[step]!r}"
                    )
    present = set(view.by_key())
    for key in sorted(reported_before - present):
        problems.append(f"trial {dict(key)} reported an epoch before a fault and is gone")
    return problems


def check_study(view: SweepView, study_file: Path, name: str) -> list[str]:
    """Invariant 3a: every Optuna trial ended as MLflow says, with the value MLflow shows. A
    FAIL trial is the record of an attempt the sweep dropped (a trial a killed driver forgot, an
    errored one ``--resume`` ran again): its MLflow run is deleted, another holds its values."""
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{study_file}")
    problems = []
    by_key = view.by_key()
    for trial in study.trials:
        sampled = trial_key(trial.params)
        if trial.state == optuna.trial.TrialState.FAIL:
            continue
        if trial.state != optuna.trial.TrialState.COMPLETE:
            problems.append(f"Optuna trial {trial.number} {dict(sampled)} is {trial.state.name}")
            continue
        run_trial = by_key.get(sampled)
        if run_trial is None:
            problems.append(f"Optuna trial {trial.number} {dict(sampled)} has no MLflow run")
            continue
        best = max(value for _, value in view.scores[run_trial]["auprc"])
        if trial.value != best:
            problems.append(
                f"Optuna trial {trial.number} value {trial.value!r} != MLflow best auprc {best!r}"
            )
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if complete != len(view.runs_by_trial):
        problems.append(
            f"Optuna has {complete} complete trials, MLflow {len(view.runs_by_trial)} trial runs"
        )
    return problems


def check_no_checkpoints(storage: Path) -> list[str]:
    """Invariant 4: a finished sweep (and report) keeps no model checkpoint."""
    left = sorted(str(p.relative_to(storage)) for p in storage.rglob(CHECKPOINT_GLOB))
    return [f"checkpoint folder left behind: {path}" for path in left[:5]]


def check_no_running(client: MlflowClient, experiment: str) -> list[str]:
    """After a report: no run of the experiment (confirmations included) is left RUNNING."""
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")
    return [f"run {run.info.run_name} ({run.info.run_id}) is left RUNNING" for run in runs]


def comparable(csv: Path) -> pd.DataFrame:
    frame = pd.read_csv(csv)
    kept = [c for c in frame.columns if not any(word in c for word in RUN_SPECIFIC)]
    return frame[kept].sort_values(kept[:3]).reset_index(drop=True)


def verdict(report_md: Path) -> str:
    """The report's headline: its first paragraph after the title."""
    paragraphs = report_md.read_text(encoding="utf-8").split("\n\n")
    return next(p for p in paragraphs[1:] if p.strip() and not p.startswith("#")).strip()


def check_report(folder: Path, baseline: Path, same_trials: bool) -> list[str]:
    """Invariant 3b: the verdict, trials.csv and confirmation.csv equal the fault-free run's
    when both sweeps hold the same trials."""
    missing = [
        n for n in ("report.md", "trials.csv", "confirmation.csv") if not (folder / n).is_file()
    ]
    if missing:
        return [f"the report wrote no {', '.join(missing)}"]
    if not same_trials:
        return []
    problems = []
    if verdict(folder / "report.md") != verdict(baseline / "report.md"):
        problems.append(
            f"verdict {verdict(folder / 'report.md')!r} != fault-free "
            f"{verdict(baseline / 'report.md')!r}"
        )
    for name in ("trials.csv", "confirmation.csv"):
        ours, theirs = comparable(folder / name), comparable(baseline / name)
        if not ours.equals(theirs):
            problems.append(
                f"{name} differs from the fault-free run's: {_first_difference(ours, theirs)}"
            )
    return problems


def _first_difference(ours: pd.DataFrame, theirs: pd.DataFrame) -> str:
    if list(ours.columns) != list(theirs.columns) or len(ours) != len(theirs):
        return f"shape {ours.shape} vs {theirs.shape}"
    for column in ours.columns:
        for row, (a, b) in enumerate(zip(ours[column], theirs[column], strict=True)):
            if not (a == b or (pd.isna(a) and pd.isna(b))):
                return f"row {row} {column}: {a!r} vs {b!r}"
    return "equal values, other types"


def reported_trials(experiment_dir: Path) -> set[tuple]:
    """Trials whose first epoch Tune has recorded (result.json) right now, by sampled values."""
    keys = set()
    for result in experiment_dir.glob("trial_*/result.json"):
        try:
            if result.read_text().strip():
                keys.add(trial_key(json.loads((result.parent / "params.json").read_text())))
        except (OSError, ValueError):
            continue  # being written
    return keys
