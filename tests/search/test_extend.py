"""Extending a finished sweep: ``--resume --set search.num_samples=N`` runs the missing trials in
the same Tune experiment and the same Optuna study (TPE keeps its history) and re-runs none; a
smaller N or any other change is refused before data preparation, one line, exit 2."""

import json
import uuid

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import run_in_repo, sweep_command, sweep_runs, trial_folders
from trainable.common.tracking.client import TRIAL_ID_TAG

pytestmark = pytest.mark.slow


def test_a_finished_sweep_extends_in_the_same_experiment_and_study(raw_train, slice_dir, tmp_path):
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = f"extend-{uuid.uuid4().hex[:6]}"
    experiment_dir = tmp_path / "results" / experiment

    def sweep(trials: int, *extra: str) -> list[str]:
        return sweep_command(
            folder, tmp_path, store, experiment, f"search.num_samples={trials}",
            "search.max_concurrent=1", "search.scheduler.type=none",
            "search.space.num_train_epochs.int=[1, 1]", *extra,
        )  # fmt: skip

    first = run_in_repo(sweep(3))
    assert first.returncode == 0, first.stderr[-4000:]
    results_before = {
        trial.name: (trial / "result.json").read_text() for trial in trial_folders(experiment_dir)
    }
    assert len(results_before) == 3
    client = MlflowClient(store)
    runs_before = {
        c.data.tags[TRIAL_ID_TAG]: c.info.run_id for c in sweep_runs(client, experiment)[1]
    }
    assert len(runs_before) == 3

    for refused, problem in (
        (
            [*sweep(2), "--resume"],
            "search.num_samples: 2 is fewer than the 3 trials this sweep has",
        ),
        (
            [*sweep(5, "search.seed=1"), "--resume"],
            "the config changed since the sweep started (search.seed);",
        ),
    ):
        done = run_in_repo(refused)
        assert done.returncode == 2, done.stderr[-3000:]
        assert problem in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert "preparing data" not in done.stdout  # refused before any expensive work

    done = run_in_repo([*sweep(5), "--resume"])
    assert done.returncode == 0, done.stderr[-4000:]
    trials = trial_folders(experiment_dir)
    assert len(trials) == 5
    for trial in trials:  # one epoch each: a re-run trial would have reported twice
        lines = (trial / "result.json").read_text().strip().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == [1]
    for name, text in results_before.items():
        assert (experiment_dir / name / "result.json").read_text() == text
    _, children = sweep_runs(client, experiment)
    assert len(children) == 5 and {c.info.status for c in children} == {"FINISHED"}
    runs_after = {c.data.tags[TRIAL_ID_TAG]: c.info.run_id for c in children}
    assert runs_after.items() >= runs_before.items()  # the first three kept their runs
    assert json.loads((experiment_dir / "sweep.json").read_text())["num_samples"] == 5

    study = optuna.load_study(
        study_name=experiment, storage=f"sqlite:///{experiment_dir / 'optuna.db'}"
    )
    assert len(study.trials) == 5  # the new trials were suggested by the same study
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    studied = sorted(t.params["learning_rate"] for t in study.trials)
    assert studied == sorted(float(c.data.params["learning_rate"]) for c in children)
