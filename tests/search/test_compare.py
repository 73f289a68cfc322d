"""``python -m search.compare``: fixed setups over paired seeds, tracked in MLflow, re-used."""

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from bench.support import TINY_MODEL
from search.compare import load_compare_config
from tests.helpers import REPO
from trainable.common.tracking.client import PARENT_TAG
from trainable.common.yaml_config import ConfigError

SEED_QUESTION = REPO / "configs" / "seed_question.yaml"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["setups=[{criterion: ce}, {criterion: ce}]"], "one setup per criterion"),
        (["setups=[{criterion: ce}]"], "at least two setups"),
        (["setups=[{criterion: ce}, {criterion: focal, gamma: -1}]"], "gamma must be >= 0"),
        (["setups=[{criterion: ce}, {criterion: focal, gama: 1}]"], "'gama' is not a parameter"),
        (["tracking.uri=null"], "kept in MLflow"),
    ],
)
def test_bad_setups_are_refused_naming_the_problem(overrides, words):
    with pytest.raises(ConfigError) as error:
        load_compare_config(str(SEED_QUESTION), overrides)
    assert words in str(error.value)


def test_the_seed_question_compares_the_seed_team_setups_at_five_epochs():
    config = load_compare_config(str(SEED_QUESTION), [])
    assert [setup["criterion"] for setup in config.setups] == ["ce", "focal", "label_smoothing"]
    assert config.train.num_train_epochs == 5 and config.report.looks == [3, 5]
    label_smoothing = config.sweep_trial_settings().with_sampled(config.setups[2]).criterion.params
    assert label_smoothing == {"smoothing": 0.5, "convention": "seed"}


def run_compare(folder, tmp_path, store: str, *extra: str) -> subprocess.CompletedProcess:
    """``python -m search.compare`` on a KLUE slice with a tiny model, one epoch per run."""
    overrides = [
        f"data.dir={folder}", f"data.cache_dir={tmp_path / 'cache'}", "data.train_subsample=null",
        "data.dev_subsample=null", "data.max_length=96", *TINY_MODEL, "train.batch_size=16",
        "train.num_train_epochs=1", f"storage.path={tmp_path / 'results'}",
        f"tracking.uri={store}", *extra,
    ]  # fmt: skip
    command = [sys.executable, "-m", "search.compare", "--config", str(SEED_QUESTION)]
    for override in overrides:
        command += ["--set", override]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_comparison_trains_paired_seeds_and_reuses_them(raw_train, slice_dir, tmp_path):
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    setups = "setups=[{criterion: ce}, {criterion: focal, gamma: 2.0}]"

    def compare(seeds: int) -> subprocess.CompletedProcess:
        return run_compare(
            folder, tmp_path, store, "search.metric=auprc", setups, f"report.looks=[{seeds}]"
        )

    first = compare(seeds=2)
    assert "confirmation: training 4 run(s)" in first.stdout
    assert "ce" in first.stdout and "focal (gamma=2.0)" in first.stdout
    again = compare(seeds=3)
    assert "confirmation: training 2 run(s)" in again.stdout  # seeds 1 and 2 were kept

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("klue-re-seed-question").experiment_id
    runs = client.search_runs([experiment])
    parents = [run for run in runs if PARENT_TAG not in run.data.tags]
    children = [run for run in runs if PARENT_TAG in run.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 6 and {run.info.status for run in children} == {"FINISHED"}
    assert sorted((r.data.params["criterion"], r.data.tags["seed"]) for r in children) == sorted(
        (criterion, str(seed)) for criterion in ("ce", "focal") for seed in (1, 2, 3)
    )
    written = (tmp_path / "results" / "seed-question" / "comparison.md").read_text()
    assert "3 paired seeds" in written  # one look at 3 seeds: a fixed design
    assert any(kind in written for kind in (": better", ": equivalent", ": undecided"))


@pytest.mark.slow
def test_a_setup_shown_worse_at_the_first_look_gets_no_more_seeds(raw_train, slice_dir, tmp_path):
    """A real race: a setup that cannot learn (learning rate 1e-9) has a dev cross-entropy far
    above the two that can, on every seed, so the first look (3 seeds) shows it worse and the
    second (4 seeds) trains only the other two, which a margin of 0.001 nats leaves undecided."""
    folder = slice_dir(raw_train[:400], raw_train[400:500])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_compare(
        folder, tmp_path, store, "search.metric=ce_loss", "report.looks=[3, 4]",
        "report.margin=0.001", "setups=[{criterion: ce}, {criterion: label_smoothing, "
        "smoothing: 0.1}, {criterion: focal, gamma: 2.0, learning_rate: 1.0e-9}]",
    )  # fmt: skip
    assert "confirmation: training 9 run(s)" in done.stdout  # look 1: 3 setups x 3 seeds
    assert "confirmation: training 2 run(s)" in done.stdout  # look 2: seed 4 of two setups

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("klue-re-seed-question").experiment_id
    children = client.search_runs([experiment], "tags.`mlflow.parentRunId` != ''")
    seeds: dict[str, list[int]] = {}
    for run in children:
        seeds.setdefault(run.data.params["criterion"], []).append(int(run.data.tags["seed"]))
    assert {name: sorted(s) for name, s in seeds.items()} == {
        "ce": [1, 2, 3, 4], "label_smoothing": [1, 2, 3, 4], "focal": [1, 2, 3],
    }  # fmt: skip
    written = (tmp_path / "results" / "seed-question" / "comparison.md").read_text()
    assert "is worse than" in written and "focal" in written
