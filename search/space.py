"""The YAML search space → an Optuna define-by-run function; the one place Optuna is used.

Tune's automatic space conversion rejects conditional spaces (``gamma`` exists only for focal),
so the space compiles to a define-by-run function: parameters are declared in YAML order, and a
parameter with ``when: {criterion: focal}`` is sampled only if the earlier ``criterion`` matched.
The function only declares (no data, no I/O), as Ray's Optuna example requires.

Every name must be ``criterion``, a ``train`` knob (``learning_rate``, ``num_train_epochs``, ...)
or a criterion parameter; criterion parameters must be conditioned on criteria that have them,
and every range must lie inside what the criterion or the train schema accepts.
"""

from __future__ import annotations

import difflib
import itertools
import warnings
from pathlib import Path
from typing import Any

import optuna
from pydantic import ValidationError

from losses import build_criterion, list_criteria
from search.config import SpaceParam, SweepConfig
from trainable.common.settings import TrainSettings

TRAIN_KNOBS = (
    "learning_rate", "num_train_epochs", "batch_size", "warmup_ratio", "weight_decay",
    "max_grad_norm", "gradient_accumulation_steps",
)  # fmt: skip


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


def tpe_sampler(seed: int) -> optuna.samplers.TPESampler:
    """TPE with grouped multivariate modelling: Optuna's mode for conditional spaces."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


def study_storage(path: Path) -> optuna.storages.BaseStorage:
    """The study in a SQLite file beside the sweep, so every trial's state (COMPLETE, PRUNED,
    FAIL), value and per-epoch intermediate values outlive the driver and can be inspected."""
    return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")


def describe(space: dict[str, SpaceParam]) -> str:
    width = max((len(name) for name in space), default=0)
    return "\n".join(f"  {name:<{width}}  {param.describe()}" for name, param in space.items())


# ---------------------------------------------------------------- checks (all problems at once)
def check_search(config: SweepConfig) -> list[str]:
    space = config.search.space
    problems: list[str] = []
    for index, name in enumerate(space):
        problems += _check_param(config, name, space[name], list(space)[:index])
    for index, point in enumerate(config.search.warm_start):
        problems += _check_point(config, point, f"search.warm_start[{index}]")
    return problems or _check_combinations(config)


def _check_combinations(config: SweepConfig) -> list[str]:
    """Build every criterion with each combination of its choice-valued parameters (ranges at
    their low end): catches samples a criterion rejects, e.g. class_balanced with base=ce and a
    sampled gamma."""
    space = config.search.space
    criteria = space["criterion"].choice if "criterion" in space else [config.criterion.name]
    problems = []
    for criterion in criteria:
        for sample in _samples_for(space, criterion, config.criterion.params):
            try:
                build_criterion(criterion, 2, class_counts=[1, 1], **sample)
            except ValueError as error:
                shown = ", ".join(f"{k}={v!r}" for k, v in sample.items())
                problems.append(f"search.space: criterion={criterion} with {shown}: {error}")
                break
    return problems


def _samples_for(
    space: dict[str, SpaceParam], criterion: str, base_params: dict[str, Any]
) -> list[dict[str, Any]]:
    own = [n for n in space if n not in ("criterion", *TRAIN_KNOBS)]
    choices = [n for n in own if space[n].choice is not None]
    samples = []
    for values in itertools.product(*(space[n].choice for n in choices)):
        fixed = {"criterion": criterion, **dict(zip(choices, values, strict=True))}
        sample = dict(base_params) if "criterion" not in space else {}
        for name in own:
            conditions = space[name].allowed_conditions()
            if all(fixed.get(key) in allowed for key, allowed in conditions.items()):
                param = space[name]
                sample[name] = (
                    fixed[name] if name in fixed else (param.float_range or param.int_range)[0]
                )
        samples.append(sample)
    return samples


def _check_param(
    config: SweepConfig, name: str, param: SpaceParam, earlier: list[str]
) -> list[str]:
    where = f"search.space.{name}"
    problems = []
    for key in param.allowed_conditions():
        if key not in earlier:
            problems.append(f"{where}.when: {key!r} must be a parameter declared before {name!r}")
    if name == "criterion":
        known = list_criteria()
        unknown = [value for value in param.choice or [] if value not in known]
        if param.choice is None or unknown:
            shown = unknown[0] if unknown else "a numeric range"
            problems.append(f"{where}: unknown criterion {shown!r}; known: {', '.join(known)}")
        return problems
    if name in TRAIN_KNOBS:
        return problems + _check_train_knob(name, param, where)
    owners = [c for c, specs in list_criteria().items() if name in specs]
    if not owners:
        criterion_params = {p for specs in list_criteria().values() for p in specs}
        candidates = [*TRAIN_KNOBS, "criterion", *criterion_params]
        hint = difflib.get_close_matches(name, candidates, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return [f"{where}: {name!r} is neither a train knob nor a criterion parameter{suggestion}"]
    criteria = _criteria_for(config, param)
    missing = [c for c in criteria if c not in owners]
    if missing:
        owner_text = f"[{', '.join(owners)}]" if len(owners) > 1 else owners[0]
        return [
            *problems,
            f"{where}: {name!r} is not a parameter of {', '.join(missing)}; "
            f"add when: {{criterion: {owner_text}}}",
        ]
    return problems + [
        problem for criterion in criteria for problem in _check_range(criterion, name, param, where)
    ]


def _criteria_for(config: SweepConfig, param: SpaceParam) -> list[str]:
    """The criteria a parameter can be sampled with: its condition, the space's, or the base."""
    conditions = param.allowed_conditions()
    if "criterion" in conditions:
        return conditions["criterion"]
    searched = config.search.space.get("criterion")
    return list(searched.choice or []) if searched else [config.criterion.name]


def _check_range(criterion: str, name: str, param: SpaceParam, where: str) -> list[str]:
    spec = list_criteria()[criterion][name]
    values = param.choice if param.choice is not None else param.float_range or param.int_range
    problems = []
    for value in values:
        try:
            if value is not None:
                spec.check(criterion, value, num_labels=2)
        except ValueError as error:
            problems.append(f"{where}: {error}")
    return problems


def _check_train_knob(name: str, param: SpaceParam, where: str) -> list[str]:
    values = param.choice if param.choice is not None else param.float_range or param.int_range
    problems = []
    for value in values:
        try:
            TrainSettings.model_validate({name: value})
        except ValidationError as error:
            problems.append(f"{where}: {value!r}: {error.errors()[0]['msg']}")
    return problems


def _check_point(config: SweepConfig, point: dict[str, Any], where: str) -> list[str]:
    space = config.search.space
    problems = []
    for key, value in point.items():
        param = space.get(key)
        if param is None:
            problems.append(f"{where}.{key}: not in search.space; known: {', '.join(space)}")
            continue
        conditions = param.allowed_conditions()
        for condition, allowed in conditions.items():
            if point.get(condition) not in allowed:
                problems.append(f"{where}.{key}: only sampled when {condition} is one of {allowed}")
        if not _inside(param, value):
            problems.append(f"{where}.{key}: {value!r} is outside {param.describe()}")
    return problems


def _inside(param: SpaceParam, value: Any) -> bool:
    if param.choice is not None:
        return value in param.choice
    low, high = param.float_range or param.int_range
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
