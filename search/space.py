"""The search space of the YAML config (``search.space``): its schema and its checks.

Parameters are declared in YAML order; a parameter with ``when: {criterion: focal}`` is sampled
only if the earlier ``criterion`` matched (``search.searcher`` compiles this into Optuna's
define-by-run function). Pure: no Optuna, no Ray, so ``--dry-run`` stays quick.

Every name must be ``criterion``, a ``train`` knob (``learning_rate``, ``num_train_epochs``, ...)
or a criterion parameter; criterion parameters must be conditioned on criteria that have them,
and every range must lie inside what the criterion or the train schema accepts.
"""

from __future__ import annotations

import difflib
import itertools
from typing import Any

from pydantic import Field, ValidationError, model_validator

from losses import build_criterion, list_criteria
from trainable.common.settings import CriterionSettings, Section, TrainSettings

TRAIN_KNOBS = (
    "learning_rate",
    "num_train_epochs",
    "batch_size",
    "warmup_ratio",
    "weight_decay",
    "max_grad_norm",
    "gradient_accumulation_steps",
)


class SpaceParam(Section):
    """One searched value: exactly one of ``choice``, ``float``, ``int``; optional ``when``."""

    choice: list[Any] | None = Field(None, description="categorical values")
    float_range: tuple[float, float] | None = Field(None, alias="float", description="[low, high]")
    int_range: tuple[int, int] | None = Field(None, alias="int", description="[low, high]")
    log: bool = Field(False, description="sample on a log scale (float/int only, low > 0)")
    when: dict[str, Any] | None = Field(
        None, description="sample only if earlier parameters match, e.g. {criterion: focal}"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SpaceParam:
        kinds = [k for k in ("choice", "float", "int") if self.bounds_or_choice(k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of choice, float, int (got {kinds or 'none'})")
        if self.choice is not None and (not self.choice or self.log):
            raise ValueError("choice needs at least one value and no log")
        bounds = self.float_range or self.int_range
        if bounds is not None:
            low, high = bounds
            if low > high:
                raise ValueError(f"low {low} must be <= high {high}")
            if self.log and low <= 0:
                raise ValueError(f"log scale needs low > 0, got {low}")
        return self

    def bounds_or_choice(self, kind: str) -> Any:
        return {"choice": self.choice, "float": self.float_range, "int": self.int_range}[kind]

    def allowed_conditions(self) -> dict[str, list[Any]]:
        """``when`` with every condition as a list of accepted values."""
        return {
            key: list(value) if isinstance(value, list) else [value]
            for key, value in (self.when or {}).items()
        }

    def describe(self) -> str:
        if self.choice is not None:
            text = "choice " + ", ".join(map(str, self.choice))
        else:
            kind = "float" if self.float_range is not None else "int"
            low, high = self.float_range or self.int_range
            text = f"{kind} [{low:g}, {high:g}]" + (" log" if self.log else "")
        conditions = " and ".join(
            f"{key} in {values}" if len(values) > 1 else f"{key} = {values[0]}"
            for key, values in self.allowed_conditions().items()
        )
        return text + (f"  (when {conditions})" if conditions else "")


def describe(space: dict[str, SpaceParam]) -> str:
    width = max((len(name) for name in space), default=0)
    return "\n".join(f"  {name:<{width}}  {param.describe()}" for name, param in space.items())


# ---------------------------------------------------------------- checks (all problems at once)
def check_search(
    space: dict[str, SpaceParam], warm_start: list[dict[str, Any]], base: CriterionSettings
) -> list[str]:
    """Every problem of ``search.space`` and ``search.warm_start``; ``base`` is the config's
    criterion section (what trials use when the criterion is not searched)."""
    problems: list[str] = []
    for index, name in enumerate(space):
        problems += _check_param(space, base, name, space[name], list(space)[:index])
    for index, point in enumerate(warm_start):
        problems += _check_point(space, point, f"search.warm_start[{index}]")
    return problems or _check_combinations(space, base)


def _check_combinations(space: dict[str, SpaceParam], base: CriterionSettings) -> list[str]:
    """Build every criterion with each combination of its choice-valued parameters (ranges at
    their low end): catches samples a criterion rejects, e.g. class_balanced with base=ce and a
    sampled gamma."""
    criteria = space["criterion"].choice if "criterion" in space else [base.name]
    problems = []
    for criterion in criteria:
        for sample in _samples_for(space, criterion, base.params):
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
    space: dict[str, SpaceParam],
    base: CriterionSettings,
    name: str,
    param: SpaceParam,
    earlier: list[str],
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
    criteria = _criteria_for(space, base, param)
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


def _criteria_for(
    space: dict[str, SpaceParam], base: CriterionSettings, param: SpaceParam
) -> list[str]:
    """The criteria a parameter can be sampled with: its condition, the space's, or the base."""
    conditions = param.allowed_conditions()
    if "criterion" in conditions:
        return conditions["criterion"]
    searched = space.get("criterion")
    return list(searched.choice or []) if searched else [base.name]


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


def _check_point(space: dict[str, SpaceParam], point: dict[str, Any], where: str) -> list[str]:
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
