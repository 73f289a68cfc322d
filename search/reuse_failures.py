"""A trial's process lost while Tune hands it to the next trial counts as one failure, not two.

With ``reuse_actors``, Ray Tune (2.60, ``ray/tune/execution/tune_controller.py``) gives a cached
trial process to a PENDING trial through a ``reset`` task. When that process dies during the
reset, Ray reports the one event to two callbacks: the actor's (``_actor_failed``, which counts
the failure against the trial, a PENDING one, and requeues it for a retry within
``max_failures``) and the reset task's (``_trial_task_failure``), which counts it again and,
finding the trial PENDING once more, errors it for good whatever retries are left: the trial
ended after 0 epochs. The reset task's callback also left the trial in the controller's
``_resetting_trials``, so a requeued trial would never get a process again.

Tune offers no setting for this, and actor reuse saves each trial the process start and the
torch/transformers imports, so the reset task's error callback is wrapped instead: it always
drops the trial from ``_resetting_trials``, and leaves a dead process (``RayActorError``) to the
actor's callback, which counted it. A reset that raises in a live process is Tune's as before.
Driver-side only; ``tests/search/test_worker_kills.py`` fails if a Ray upgrade changes this path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.exceptions import RayActorError
from ray.tune.execution.tune_controller import TuneController

_WRAPPED = "_reset_failures_counted_once"

ErrorCallback = Callable[[Any, Exception], None]


def count_reset_failures_once() -> None:
    """Wrap ``TuneController._schedule_trial_task`` for ``reset`` tasks (once per process)."""
    if getattr(TuneController, _WRAPPED, False):
        return
    schedule = TuneController._schedule_trial_task

    def schedule_trial_task(self: TuneController, *args: Any, **kwargs: Any) -> Any:
        on_error = kwargs.get("on_error")
        if kwargs.get("method_name") == "reset" and on_error is not None:
            kwargs["on_error"] = _reset_failed(self, on_error)
        return schedule(self, *args, **kwargs)

    TuneController._schedule_trial_task = schedule_trial_task
    setattr(TuneController, _WRAPPED, True)


def _reset_failed(controller: TuneController, on_error: ErrorCallback) -> ErrorCallback:
    def handle(trial: Any, exception: Exception) -> None:
        controller._resetting_trials.discard(trial)
        if isinstance(exception, RayActorError):
            return  # the actor's own callback counted it and requeued the trial
        on_error(trial, exception)

    return handle
