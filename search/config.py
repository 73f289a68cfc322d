"""The sweep config: the trial's settings plus the search, resources, Ray and failure sections.

``load_sweep_config`` reads YAML (with ``${ENV}`` and ``--set`` overrides, see
``trainable.common.yaml_config``), validates every section, then checks the search space against the
criteria registry and the train schema, reporting every problem at once, one line each, before
Ray starts. Imports neither ray nor optuna, so ``--dry-run`` answers in about a second.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator

from search.space import SpaceParam, check_search
from trainable.common.directions import DIRECTIONS, Direction, base_name, direction
from trainable.common.settings import Section, TrialSettings
from trainable.common.yaml_config import ConfigError, load_config

# Under storage.path, the folder of ``search.trial``'s single trainings (one subfolder each, named
# after experiment.name and the start time): a sweep's folder is storage.path/experiment.name,
# so a training never lands in a sweep's folder, nor a sweep in a training's.
TRAININGS_FOLDER = "trials"


class SchedulerSettings(Section):
    type: Literal["asha", "none"] = Field(
        "asha", description="asha: stop weak trials early at epoch rungs; none: run every trial"
    )
    grace_period: PositiveInt = Field(1, description="epochs every trial runs before a cut")
    reduction_factor: float = Field(2.0, gt=1.0, description="keep 1/factor of trials per rung")


class SearchSettings(Section):
    metric: str = Field(
        "micro_f1",
        description="selection-split metric the search optimizes; its direction (max for "
        "scores, min for ce_loss) comes from trainable.common.directions",
    )
    num_samples: PositiveInt = Field(
        8,
        description="trials in the sweep; a third of them (3 to 10, warm starts included) are "
        "sampled at random before TPE models the results",
    )
    max_concurrent: PositiveInt = Field(
        1,
        description="trials at once (~ GPUs); above 1, TPE's constant liar keeps concurrent "
        "trials apart, yet each trial is sampled knowing fewer results",
    )
    seed: int = Field(0, description="seeds the TPE sampler")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    warm_start: list[dict[str, Any]] = Field(
        default_factory=list, description="points Optuna evaluates first (baselines)"
    )
    space: dict[str, SpaceParam] = Field(default_factory=dict, description="what is searched")

    @property
    def mode(self) -> Direction:
        """The metric's direction, from the one table (``check_metric`` vouches for the name)."""
        return direction(self.metric)


class ResourceSettings(Section):
    cpu: float = Field(1.0, gt=0, description="CPUs per trial (also torch threads)")
    gpu: float = Field(0.0, ge=0, description="GPUs per trial; fractions share a GPU")


class RaySettings(Section):
    address: str | None = Field(
        None, description="empty: start a local Ray on 127.0.0.1; 'auto' or ray://host:10001"
    )


class FailureSettings(Section):
    max_retries: int = Field(
        1, ge=0, description="restarts of a failed trial, each from its last checkpoint"
    )


class ReportSettings(Section):
    scope: Literal["best", "last"] = Field(
        "best", description="score each trial at its best epoch (by the metric) or its last"
    )
    confirm_top_k: int = Field(
        3,
        ge=0,
        description="re-train the best config of the top-k criteria over seeds (one sweep seed "
        "is noise-level); 0: off, and the headline says 'single seed, not confirmed'",
    )
    looks: list[int] = Field(
        [3, 5, 7, 10],
        description="seed counts at which the confirmation decides (paired seeds 1..n, the same "
        "for every criterion); a criterion shown worse gets no more; one look: a fixed design",
    )
    margin: float = Field(
        1.0,
        gt=0.0,
        description="criteria whose dev scores differ by less (metric units, e.g. micro-F1 "
        "points) count as equivalent",
    )
    baseline: str | None = Field(
        "ce", description="also confirmed whenever the sweep has it; the headline compares to it"
    )
    registered_model: str | None = Field(
        None,
        description="MLflow registered-model name for the recommended criterion's model "
        "(alias champion); empty: tracking.experiment",
    )

    @field_validator("looks")
    @classmethod
    def _increasing_looks(cls, looks: list[int]) -> list[int]:
        problem = looks_problem(looks)
        if problem:
            raise ValueError(problem)
        return looks


def looks_problem(looks: Sequence[int]) -> str | None:
    """Why ``looks`` is no race design (config and ``--looks`` alike), or None."""
    if not looks or looks[0] < 2 or any(b <= a for a, b in pairwise(looks)):
        return f"must be strictly increasing seed counts, the first >= 2, but got {list(looks)}"
    return None


class SweepConfig(TrialSettings):
    """A sweep config file: the trial's sections (``TrialSettings``, as a single training reads
    them) plus the driver's (search, resources, ray, failure, report).

    Two views hand the trial's sections on: ``trial_sections`` as written (one training,
    ``search.trial``), ``sweep_trial_settings`` as every trial of a sweep starts (its schedule
    stretched to the sweep's longest trial); a trial then applies its sampled values
    (``TrialSettings.with_sampled``)."""

    search: SearchSettings = Field(default_factory=SearchSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    failure: FailureSettings = Field(default_factory=FailureSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)

    def max_epochs(self) -> int:
        """The longest trial, in epochs: ASHA's ``max_t`` and every trial's schedule length."""
        epochs = self.search.space.get("num_train_epochs")
        if epochs is None:
            return self.train.num_train_epochs
        return int(max(epochs.choice or epochs.int_range or epochs.float_range))

    def trial_sections(self) -> TrialSettings:
        """The trial's sections as written (the driver's sections stay on the driver)."""
        return TrialSettings.model_validate(
            self.model_dump(include=set(TrialSettings.model_fields))
        )

    def sweep_trial_settings(self) -> TrialSettings:
        """The trial's sections as every trial of the sweep starts from them.

        Every trial's learning-rate schedule spans the sweep's largest epoch count, whatever
        count it sampled (it stops there): at an early-stopping rung, trials that differ only
        in their epoch count have followed the same schedule, so a slow starter is not cut for
        still warming up while a short trial already anneals."""
        trial = self.trial_sections()
        trial.train.schedule_epochs = self.max_epochs()
        return trial

    def config_hash(self) -> str:
        """Identifies the sweep's definition (MLflow tag), independent of formatting."""
        return _digest(self.model_dump(mode="json", by_alias=True))

    def resume_fields(self) -> dict[str, Any]:
        """What ``--resume`` requires unchanged, as JSON: the whole config but
        ``search.num_samples``, so that a finished sweep can be extended with more trials of the
        same search."""
        return self.model_dump(mode="json", by_alias=True, exclude={"search": {"num_samples"}})

    def resume_hash(self) -> str:
        """``resume_fields``, digested (``sweep.json`` keeps both)."""
        return _digest(self.resume_fields())


def _digest(dumped: dict[str, Any]) -> str:
    text = json.dumps(dumped, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def changed_keys(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two ``resume_fields`` (a list is one value)."""
    changed = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += changed_keys(old, new, f"{prefix}{key}.")
        elif old != new or (key in before) != (key in after):
            changed.append(f"{prefix}{key}")
    return changed


def load_sweep_config(path: str | Path, overrides: Iterable[str] = ()) -> SweepConfig:
    """Load and fully check a sweep config; raise ``ConfigError`` listing every problem."""
    config = load_config(path, SweepConfig, overrides)
    search = config.search
    problems = check_metric(config) + check_search(
        search.space, search.warm_start, config.criterion
    )
    if problems:
        raise ConfigError(str(path), problems)
    return config


def check_metric(config: SweepConfig) -> list[str]:
    search = config.search
    name = base_name(search.metric)
    if name != search.metric:
        return [
            f"search.metric: {search.metric!r} selects on KLUE dev; select on "
            f"{name!r} (the selection split) or set data.selection: dev"
        ]
    if name not in DIRECTIONS:
        return [f"search.metric: unknown metric {name!r}; known: {', '.join(DIRECTIONS)}"]
    return []
