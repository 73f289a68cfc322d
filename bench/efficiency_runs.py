"""One search run of the search-efficiency bench: a strategy, a search seed, a compute budget.

A run is a real sweep as ``search.driver`` builds it (``sweep_tuner``: ``train_fn`` under
Optuna, warm-started, on a local loopback Ray), with two changes that make strategies
comparable: the strategy picks the sampler and the scheduler, and the run stops once its
trials have reported ``budget`` epochs in all (trial-epochs, the unit of compute). What comes
back is every epoch's selection score in the order the results arrived, the sweep's own record
of what it had found by then.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import optuna
from ray import tune

from search.config import SweepConfig
from search.driver import sweep_tuner


@dataclass(frozen=True)
class Strategy:
    """A sampler paired with a scheduler (``search.scheduler.type``)."""

    name: str
    sampler: Literal["random", "tpe"]
    scheduler: Literal["none", "asha"]

    def overrides(self) -> list[str]:
        return [f"search.scheduler.type={self.scheduler}"]

    def build_sampler(self, config: SweepConfig) -> optuna.samplers.BaseSampler | None:
        """Optuna's RandomSampler, or None: the sweep's own TPE (``search.searcher``), so the
        TPE strategies are exactly what sweeps run."""
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=config.search.seed)
        return None


# TPE's random start and RandomSampler draw the same points for the same seed, so the runs of
# one seed share their warm-start and first random trials: the pairing the statistics use.
# Random search with ASHA is also TPE + ASHA with a random start longer than the run.
STRATEGIES = (
    Strategy("random", "random", "none"),
    Strategy("random + ASHA", "random", "asha"),
    Strategy("TPE", "tpe", "none"),
    Strategy("TPE + ASHA", "tpe", "asha"),
)
DEFAULT = "TPE + ASHA"  # what search.run does


@dataclass
class Run:
    """One finished run: selection scores per trial-epoch, in arrival order."""

    strategy: str
    seed: int
    scores: list[float]
    trials: int  # trials that reported at least one epoch
    wall_s: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class TrialEpochBudget(tune.Stopper):
    """Records each trial-epoch's score as it arrives and ends the run at ``budget`` of them.

    A retried trial reports its epochs again; each (trial, epoch) counts once."""

    def __init__(self, budget: int, metric: str) -> None:
        self.budget, self.metric = budget, metric
        self.results: list[tuple[str, int, float]] = []
        self._seen: set[tuple[str, int]] = set()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        key = (trial_id, int(result.get("epoch", 0)))
        if self.metric in result and key not in self._seen:
            self._seen.add(key)
            self.results.append((trial_id, key[1], float(result[self.metric])))
        return False

    def stop_all(self) -> bool:
        return len(self.results) >= self.budget


def run_strategy(
    strategy: Strategy, config: SweepConfig, shared: dict[str, Any], budget: int
) -> Run:
    """Run ``strategy`` (``config`` already carries its seed and scheduler) until ``budget``
    trial-epochs; the run's folder is deleted afterwards (the scores are all the bench needs)."""
    experiment_dir = config.storage.path / config.experiment.name
    experiment_dir.mkdir(parents=True)  # the Optuna study's file goes there first
    stopper = TrialEpochBudget(budget, config.search.metric)
    tuner = sweep_tuner(
        config, experiment_dir, shared,
        sampler=strategy.build_sampler(config), stop=stopper, num_samples=budget,
    )  # fmt: skip
    start = time.perf_counter()
    tuner.fit()  # not ray_tune.fit: stopping at the budget leaves planned trials unstarted
    wall = time.perf_counter() - start
    shutil.rmtree(experiment_dir, ignore_errors=True)
    return Run(
        strategy=strategy.name,
        seed=config.search.seed,
        scores=[score for _, _, score in stopper.results[:budget]],
        trials=len({trial for trial, _, _ in stopper.results[:budget]}),
        wall_s=round(wall, 1),
    )
