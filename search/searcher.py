"""Optuna as Tune's search algorithm, told the score the report ranks by.

Kept apart from ``search.space`` (which compiles the space and must stay light for
``--dry-run``): this module imports Ray.
"""

from __future__ import annotations

from typing import Any

from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from trainable.common.directions import is_better


class SelectionScoreOptunaSearch(OptunaSearch):
    """Tells Optuna what the report ranks by: each trial's best-epoch selection score.

    Ray's ``OptunaSearch`` tells Optuna a trial's last result instead of its best epoch, records
    a trial the scheduler cut as COMPLETE with its rung score, and an errored trial as COMPLETE
    with its last score whenever it reported one. Here a finished trial is COMPLETE with its best
    epoch's score, a cut trial is PRUNED (Optuna keeps its per-epoch intermediate values, which
    TPE ranks below complete trials), and an errored one FAILED, so TPE never learns from it.
    """

    def __init__(self, *args: Any, planned_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._default_epochs = planned_epochs
        self._planned: dict[str, int] = {}
        self._best: dict[str, float] = {}
        self._last_step: dict[str, int] = {}

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            self._planned[trial_id] = int(config.get("num_train_epochs", self._default_epochs))
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        super().on_trial_result(trial_id, result)
        self._last_step[trial_id] = result.get(TRAINING_ITERATION)
        value, best = result.get(self.metric), self._best.get(trial_id)
        if value is not None and (best is None or is_better(value, best, self.metric)):
            self._best[trial_id] = value

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        last_step = self._last_step.pop(trial_id, None)
        if (
            result
            and not error
            and self.metric in result
            and result.get(TRAINING_ITERATION) != last_step
        ):
            # A result the scheduler stopped the trial at (its rung, or max_t) reaches only
            # on_trial_complete: record it as that epoch's intermediate value and candidate best.
            self.on_trial_result(trial_id, result)
            self._last_step.pop(trial_id, None)
        best = self._best.pop(trial_id, None)
        planned = self._planned.pop(trial_id, self._default_epochs)
        finished = result is not None and result.get("epoch", 0) >= planned
        told = {**result, self.metric: best} if finished and best is not None else None
        super().on_trial_complete(trial_id, None if error else told, error)
