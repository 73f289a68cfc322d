"""The search space in Optuna's terms: the define-by-run function the sweep's sampler runs, and
each name's distribution for analysing finished trials. Optuna only (no Ray), so the report can
use it without starting Ray."""

from __future__ import annotations

from typing import Any

import optuna

from search.space import SpaceParam


class DefineByRun:
    """The Optuna define-by-run function for a space: it declares, never computes.

    A class rather than a closure: Tune pickles the searcher (with this) into the sweep's state
    with the standard ``pickle``, which cannot pickle local functions.
    """

    def __init__(self, space: dict[str, SpaceParam]) -> None:
        self.space = space

    def __call__(self, trial: optuna.Trial) -> None:
        values: dict[str, Any] = {}
        for name, param in self.space.items():
            conditions = param.allowed_conditions()
            if any(values.get(key) not in allowed for key, allowed in conditions.items()):
                continue
            if param.choice is not None:
                values[name] = trial.suggest_categorical(name, param.choice)
            elif param.float_range is not None:
                values[name] = trial.suggest_float(name, *param.float_range, log=param.log)
            else:
                values[name] = trial.suggest_int(name, *param.int_range, log=param.log)


def distributions(space: dict[str, SpaceParam]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Each searched name's Optuna distribution (what ``DefineByRun`` declares), for analysing
    trials outside the live study."""
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, param in space.items():
        if param.choice is not None:
            found[name] = optuna.distributions.CategoricalDistribution(param.choice)
        elif param.float_range is not None:
            found[name] = optuna.distributions.FloatDistribution(*param.float_range, log=param.log)
        else:
            found[name] = optuna.distributions.IntDistribution(*param.int_range, log=param.log)
    return found
