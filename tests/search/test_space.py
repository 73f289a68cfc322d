"""The compiled define-by-run space: conditional parameters appear only under their condition."""

import pickle

import optuna
import pytest

from search.config import load_sweep_config
from search.optuna_space import DefineByRun
from search.searcher import startup_trials, sweep_sampler, tpe_sampler
from search.space import describe
from tests.helpers import REPO

SIX_CRITERIA = [
    "search.space.criterion.choice=[ce, focal, label_smoothing, class_balanced, poly1, logit_adjusted]",
    "search.space.gamma.when={criterion: [focal, class_balanced]}",
    "search.space.beta={float: [0.9, 0.9999], when: {criterion: class_balanced}}",
    "search.space.base={choice: [focal], when: {criterion: class_balanced}}",
    "search.space.epsilon={float: [-1.0, 4.0], when: {criterion: poly1}}",
    "search.space.tau={float: [0.5, 2.0], when: {criterion: logit_adjusted}}",
]
OWNERS = {
    "gamma": {"focal", "class_balanced"},
    "smoothing": {"label_smoothing"},
    "beta": {"class_balanced"},
    "base": {"class_balanced"},
    "epsilon": {"poly1"},
    "tau": {"logit_adjusted"},
}


def sampled_trials(config, count=300, sampler=None):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = sampler or tpe_sampler(config.search.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for point in config.search.warm_start:
        study.enqueue_trial(point)
    declare = DefineByRun(config.search.space)

    def objective(trial):
        declare(trial)
        return trial.number % 7  # any score: only the sampled parameters are under test

    study.optimize(objective, n_trials=count)
    return study.trials


def test_conditional_parameters_exist_only_under_their_condition():
    config = load_sweep_config(REPO / "configs/quickstart.yaml", SIX_CRITERIA)
    trials = sampled_trials(config)
    seen = set()
    for trial in trials:
        criterion = trial.params["criterion"]
        seen.add(criterion)
        for name, owners in OWNERS.items():
            assert (name in trial.params) == (criterion in owners), (criterion, trial.params)
        for name, value in trial.params.items():
            param = config.search.space[name]
            if param.choice is None:
                low, high = param.float_range or param.int_range
                assert low <= value <= high
    assert len(seen) == 6


def test_warm_start_points_are_evaluated_first():
    config = load_sweep_config(REPO / "configs/quickstart.yaml")
    trials = sampled_trials(config, count=5)
    for point, trial in zip(config.search.warm_start, trials, strict=False):
        assert {k: trial.params[k] for k in point} == point


def test_same_seed_same_trials_and_the_space_pickles():
    config = load_sweep_config(REPO / "configs/quickstart.yaml")
    first = [t.params for t in sampled_trials(config, count=20)]
    assert first == [t.params for t in sampled_trials(config, count=20)]
    restored = pickle.loads(pickle.dumps(DefineByRun(config.search.space)))  # Tune saves it so
    assert restored.space == config.search.space


def test_max_epochs_and_description():
    config = load_sweep_config(REPO / "configs/quickstart.yaml")
    assert config.max_epochs() == config.search.space["num_train_epochs"].int_range[1]
    text = describe(config.search.space)
    assert "gamma" in text and "when criterion = focal" in text


@pytest.mark.parametrize("epochs", ["{choice: [2, 5]}", "{int: [1, 4]}"])
def test_max_epochs_follows_the_space(epochs):
    config = load_sweep_config(
        REPO / "configs/quickstart.yaml", [f"search.space.num_train_epochs={epochs}"]
    )
    assert config.max_epochs() in (5, 4)


def test_tpe_models_the_results_after_a_third_of_the_sweep():
    """Optuna's fixed 10 random trials left the quickstart's 8 all random: now its 3 warm starts
    are the random start and, one trial at a time, TPE samples trials 4 to 8 (the same seed's
    random draws before)."""
    assert [startup_trials(n) for n in (1, 8, 10, 15, 30, 48, 200)] == [3, 3, 3, 5, 10, 10, 10]
    config = load_sweep_config(REPO / "configs/quickstart.yaml")
    random_draws = sampled_trials(config, 8, optuna.samplers.RandomSampler(config.search.seed))
    swept = sampled_trials(config, 8, sweep_sampler(config))
    same = [a.params == b.params for a, b in zip(random_draws, swept, strict=True)]
    assert same == [True] * 3 + [False] * 5


@pytest.mark.parametrize("concurrent", [1, 2])
def test_the_constant_liar_is_on_when_trials_run_side_by_side(concurrent):
    """The liar shares each running trial's TPE-sampled values through the study (Optuna's
    ``tpe:relative_params`` attributes), so the next trial is not sampled right next to it."""
    config = load_sweep_config(
        REPO / "configs/quickstart.yaml", [f"search.max_concurrent={concurrent}"]
    )
    trials = sampled_trials(config, 8, sweep_sampler(config))
    shared = [t for t in trials if any(k.startswith("tpe:relative_params") for k in t.system_attrs)]
    assert bool(shared) == (concurrent > 1)
