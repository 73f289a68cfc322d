"""Parameter importance on simulated trials where the truth is known: the score depends on one
parameter only (learning rate overall; gamma among focal trials), the others are noise."""

import numpy as np
import pandas as pd
import pytest

from search.report.importance import importance_table, parallel_coordinates, study_of
from search.space import SpaceParam

SPACE = {
    name: SpaceParam.model_validate(spec)
    for name, spec in {
        "criterion": {"choice": ["ce", "focal"]},
        "gamma": {"float": [0.0, 5.0], "when": {"criterion": "focal"}},
        "learning_rate": {"float": [1e-4, 1e-2], "log": True},
        "warmup_ratio": {"float": [0.0, 0.2]},
        "num_train_epochs": {"int": [1, 3]},
    }.items()
}  # as a config file writes it


def simulated_trials(seed: int, trials: int = 40) -> pd.DataFrame:
    """micro_f1 = 60 - 20 * |log10(lr) + 3| (best at lr 1e-3) - 8 * |gamma - 2| (focal) + noise;
    warmup and epochs are drawn but play no part."""
    rng = np.random.default_rng(seed)
    criterion = rng.choice(["ce", "focal"], size=trials)
    gamma = np.where(criterion == "focal", rng.uniform(0, 5, trials), np.nan)
    learning_rate = 10 ** rng.uniform(-4, -2, trials)
    score = 60 - 20 * np.abs(np.log10(learning_rate) + 3) - 8 * np.nan_to_num(np.abs(gamma - 2))
    return pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(trials)],
            "status": "finished",
            "criterion": criterion,
            "gamma": gamma,
            "learning_rate": learning_rate,
            "warmup_ratio": rng.uniform(0, 0.2, trials),
            "num_train_epochs": pd.array(rng.integers(1, 4, trials), dtype="Int64"),
            "micro_f1": score + rng.normal(0, 0.5, trials),
        }
    )


SEEDS = range(20)  # simulated sweeps per claim: importance from 40 trials is noisy, so rates


def ranked(trials: pd.DataFrame) -> pd.DataFrame:
    return importance_table(study_of(trials, SPACE, "micro_f1")).set_index("parameter")


def test_power_the_parameters_that_drive_the_score_rank_above_noise():
    lr_first = gamma_above_noise = 0
    for seed in SEEDS:
        table = ranked(simulated_trials(seed))
        assert table["all trials"].sum() == pytest.approx(1.0)
        assert pd.isna(table.loc["gamma", "ce"])  # ce never samples gamma
        lr_first += table["all trials"].idxmax() == "learning_rate"
        focal = table["focal"]  # gamma is conditional: scored among focal trials
        gamma_above_noise += focal["gamma"] > max(focal["warmup_ratio"], focal["num_train_epochs"])
    assert lr_first >= 15 and gamma_above_noise >= 15  # measured 18 and 17 of 20


def test_null_when_nothing_matters_no_parameter_is_consistently_first():
    firsts = []
    for seed in SEEDS:
        trials = simulated_trials(seed)
        trials["micro_f1"] = np.random.default_rng(100 + seed).normal(50, 1, len(trials))
        firsts.append(ranked(trials)["all trials"].idxmax())
    assert pd.Series(firsts).value_counts().max() <= 10  # measured at most 6 of 20


def test_failed_and_unscored_trials_stay_out_and_too_few_trials_give_no_column():
    trials = simulated_trials(0, trials=12)
    trials.loc[:5, "status"] = "failed"
    trials.loc[6, "micro_f1"] = np.nan
    study = study_of(trials, SPACE, "micro_f1")
    assert len(study.trials) == 5
    table = importance_table(study)
    assert set(table.columns) == {"parameter", "all trials"}  # each criterion has < 4 trials
    assert parallel_coordinates(study) is not None


def test_a_lower_is_better_metric_is_minimized():
    trials = simulated_trials(1).rename(columns={"micro_f1": "ce_loss"})
    assert study_of(trials, SPACE, "ce_loss").direction.name == "MINIMIZE"
