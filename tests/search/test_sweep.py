"""End to end: python -m search.run on real KLUE slices, a real local Ray and a real MLflow server.

The resume test interrupts a sweep (Ctrl-C) once two trials have finished, resumes it, and counts:
every trial ran once, and MLflow holds exactly one finished child run per trial.
"""

import hashlib
import json
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.helpers import REPO, sweep_command, sweep_runs, trial_folders, wait_for_finished_trials
from trainable.common.redact import portable_path, portable_text
from trainable.common.tracking.client import PARENT_TAG, SWEEP_TAG, TRIAL_ID_TAG

pytestmark = pytest.mark.slow


def test_sweep_tracks_every_trial_under_one_parent_run(
    raw_train, slice_dir, tmp_path, mlflow_server
):
    folder = slice_dir(raw_train[:500], raw_train[500:620])
    experiment = f"e2e-{uuid.uuid4().hex[:6]}"
    command = sweep_command(
        folder, tmp_path, mlflow_server, experiment,
        "search.num_samples=4", "search.space.num_train_epochs.int=[1, 2]",
    )  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Best trial per criterion" in done.stdout
    # Progress between trials: each start and end, counted against the planned 4.
    progress = re.findall(
        r"sweep: trial \w+ (started|ended) \| (\d) of 4 trials ended", done.stdout
    )
    assert [event for event, _ in progress].count("ended") == 4
    assert progress[-1] == ("ended", "4")

    client = MlflowClient(mlflow_server)
    parents, children = sweep_runs(client, experiment)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.data.tags[SWEEP_TAG] == experiment and parent.data.tags["sweep.config_hash"]
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"summary.md", "data"}
    guids = {
        split: Path(
            client.download_artifacts(parent.info.run_id, f"data/{split}_guids.txt", str(tmp_path))
        )
        .read_text()
        .split()
        for split in ("train", "selection")
    }
    assert not set(guids["train"]) & set(guids["selection"])
    sliced = {record["guid"] for record in raw_train[:500]}
    assert set(guids["train"]) | set(guids["selection"]) <= sliced
    assert len(guids["train"]) + len(guids["selection"]) >= 490  # exact duplicates aside
    inputs = client.get_run(parent.info.run_id).inputs.dataset_inputs
    by_context = {i.tags[0].value: i.dataset for i in inputs}
    train_file = folder / "klue-re-v1.1_train.json"
    assert by_context["train"].name == train_file.name
    assert (
        json.loads(by_context["train"].profile)["sha256"]
        == hashlib.sha256(train_file.read_bytes()).hexdigest()
    )
    # The parent run reads like the question: settings as params, the space as a file, the
    # best trial's scores as metrics, the summary as its description.
    summary = (tmp_path / "results" / experiment / "summary.md").read_text()
    assert parent.data.params["search.metric"] == "micro_f1"
    assert parent.data.params["data.dir"] == portable_path(folder)  # no local absolute path
    assert not any(key.startswith("tracking.uri") for key in parent.data.params)
    local = [tmp_path / "results" / experiment, folder, tmp_path / "cache"]
    assert parent.data.tags["mlflow.note.content"] == portable_text(summary, local)
    assert str(tmp_path) not in parent.data.tags["mlflow.note.content"]
    assert parent.data.tags["sweep.searched"].split(",")[0] == "criterion"
    space = client.download_artifacts(parent.info.run_id, "search.yaml", str(tmp_path))
    assert yaml.safe_load(Path(space).read_text())["space"]["num_train_epochs"]["int"] == [1, 2]
    best = max(
        m.value for child in children
        for m in client.get_metric_history(child.info.run_id, "micro_f1")
    )  # fmt: skip
    assert parent.data.metrics["best_micro_f1"] == pytest.approx(best)
    assert len(children) == 4
    for child in children:
        params = child.data.params
        assert child.data.tags[PARENT_TAG] == parent.info.run_id
        # Named after what it tries: criterion first, its own parameter, lr, epochs, trial id.
        name = child.info.run_name
        assert name.startswith(params["criterion"] + "-")
        assert name.endswith("-" + child.data.tags[TRIAL_ID_TAG])
        assert f"-ep{params['num_train_epochs']}-" in name
        if "gamma" in params:
            assert f"-gamma{float(params['gamma']):.3g}-" in name
        assert child.info.status == "FINISHED"
        assert {"criterion", "learning_rate", "num_train_epochs"} <= set(params)
        assert ("gamma" in params) == (params["criterion"] == "focal")
        assert ("smoothing" in params) == (params["criterion"] == "label_smoothing")
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "micro_f1")]
        assert steps == list(range(1, len(steps) + 1)) and 1 <= len(steps) <= 2
    assert parent.info.run_id in summary
    assert re.search(
        r"Ray results: .* \(\d+\.\d MiB; no checkpoint kept once a trial ends\)", summary
    )
    trial_dirs = trial_folders(tmp_path / "results" / experiment)
    assert len(trial_dirs) == 4
    for trial_dir in trial_dirs:  # checkpoints resume running trials only
        assert not list(trial_dir.glob("checkpoint_*"))


def test_interrupted_sweep_resumes_without_rerunning_or_duplicating(
    raw_train, slice_dir, tmp_path, mlflow_server
):
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    experiment = f"resume-{uuid.uuid4().hex[:6]}"
    command = sweep_command(
        folder, tmp_path, mlflow_server, experiment,
        "search.num_samples=8", "search.max_concurrent=1", "search.scheduler.type=none",
        "search.space.num_train_epochs.int=[1, 1]",
    )  # fmt: skip
    client = MlflowClient(mlflow_server)
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    wait_for_finished_trials(first, client, experiment, count=2)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    assert first.wait(timeout=300) == 130, (tmp_path / "first.log").read_text()[-3000:]
    parents, children = sweep_runs(client, experiment)
    assert parents[0].info.status == "KILLED" and 2 <= len(children) < 8

    done = subprocess.run(
        [*command, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    parents, children = sweep_runs(client, experiment)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 8
    assert {c.info.status for c in children} == {"FINISHED"}
    assert len({c.data.tags[TRIAL_ID_TAG] for c in children}) == 8
    trial_dirs = trial_folders(tmp_path / "results" / experiment)
    assert len(trial_dirs) == 8
    for trial_dir in trial_dirs:  # one epoch each: a re-run trial would have reported twice
        lines = (trial_dir / "result.json").read_text().strip().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == [1]


def test_optuna_learns_the_best_epoch_and_cut_trials_are_pruned_for_a_lower_is_better_metric(
    raw_train, slice_dir, tmp_path
):
    """``ce_loss`` (lower is better): Optuna is told each finished trial's lowest epoch loss,
    trials ASHA cut are PRUNED with their per-epoch values, the summary and the report pick the
    lowest-loss trial."""
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = "ce-loss"
    command = sweep_command(
        folder, tmp_path, store, experiment,
        "search.metric=ce_loss", "search.num_samples=6", "search.max_concurrent=1",
        "search.space.num_train_epochs.int=[2, 3]", "search.warm_start=[]",
    )  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    client = MlflowClient(store)
    _, children = sweep_runs(client, experiment)
    assert {run.info.status for run in children} == {"FINISHED"}  # cut ones closed by the driver
    history = {
        run.info.run_id: {
            m.step: m.value for m in client.get_metric_history(run.info.run_id, "ce_loss")
        }
        for run in children
    }
    study = optuna.load_study(
        study_name=experiment,
        storage=f"sqlite:///{tmp_path / 'results' / experiment / 'optuna.db'}",
    )
    assert len(study.trials) == len(children) == 6
    states = []
    for run in children:
        trial = next(
            t for t in study.trials
            if t.params["learning_rate"] == float(run.data.params["learning_rate"])
        )  # fmt: skip
        losses = history[run.info.run_id]
        assert trial.intermediate_values == losses  # every epoch, keyed by epoch
        if run.data.tags.get("stopped_early") == "true":
            assert trial.state == optuna.trial.TrialState.PRUNED
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE
            assert trial.value == min(losses.values())  # the best epoch, not the last
        states.append(trial.state)
    assert optuna.trial.TrialState.PRUNED in states and optuna.trial.TrialState.COMPLETE in states

    lowest = min(children, key=lambda run: min(history[run.info.run_id].values()))
    summary_lines = done.stdout.split("# Best trial per criterion")[1].splitlines()
    first_row = next(
        line for line in summary_lines if line.startswith("| ") and "trial_id" not in line
    )
    assert lowest.data.tags[TRIAL_ID_TAG] in first_row  # best first, by the lowest loss

    report = subprocess.run(
        [sys.executable, "-m", "search.report", "--tracking-uri", store, "--experiment",
         experiment, "--confirm", "0", "--out", str(tmp_path / "report")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    assert f"run {lowest.info.run_id}" in (tmp_path / "report" / "report.md").read_text()
    assert "single seed, not confirmed" in report.stdout
