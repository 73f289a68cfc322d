"""Faults injected into real trials through ``trainable.hooks``, and a sweep CLI that injects them.

    python -m tests.faults '<json>' --config ... [--set ...]

runs ``python -m search.run`` with the hooks the JSON names, e.g.
``{"fail_after_epoch": {"epoch": 1, "on_retries": true, "when": {"criterion": "focal"}}}`` or
``{"nan_loss_at_step": {"step": 3}}`` or ``{"hold_after_epoch": {"epoch": 2, "until": "/tmp/go"}}``
or ``{"out_of_memory_above": {"fits": 16, "count_dir": "/tmp/oom"}}`` or
``{"kill_after_epoch": {"epoch": 2}}`` or ``{"kill_on_reuse": {"epoch": 1, "mark": "/tmp/k"}}``. Ray's workers import this
module by name (the hooks travel to them pickled by reference), so it lives in the importable
``tests`` package.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import torch

from trainable.hooks import TrialHook


class InjectedFailure(RuntimeError):
    """What ``FailAfterEpoch`` raises: retries must resume from the checkpoint."""


class FailAfterEpoch(TrialHook):
    """Fail after reporting ``epoch`` on a trial's first attempt; with ``on_retries``, also after
    every epoch >= ``epoch`` on retries; only trials whose sampled values match ``when``."""

    def __init__(self, epoch: int, on_retries: bool = False, when: dict | None = None) -> None:
        self.epoch, self.on_retries, self.when = epoch, on_retries, when or {}

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict[str, Any]) -> None:
        if any(sampled.get(key) != value for key, value in self.when.items()):
            return
        fails = (self.on_retries and epoch >= self.epoch) if resumed else epoch == self.epoch
        if fails:
            raise InjectedFailure(f"injected failure after epoch {epoch}")


class NanLossAtStep(TrialHook):
    """Turn the training loss into NaN at ``step``: the NaN guard must stop the trial."""

    def __init__(self, step: int) -> None:
        self.step = step

    def training_loss(self, loss: Any, step: int) -> Any:
        return loss * float("nan") if step == self.step else loss


class HoldAfterEpoch(TrialHook):
    """Pause after reporting ``epoch`` (first attempts) until the file ``until`` exists: a test
    decides when training goes on, e.g. only once a restarted server answers."""

    def __init__(self, epoch: int, until: str, timeout_s: float = 900) -> None:
        self.epoch, self.until, self.timeout_s = epoch, Path(until), timeout_s

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict[str, Any]) -> None:
        deadline = time.monotonic() + self.timeout_s
        held = epoch == self.epoch and not resumed
        while held and not self.until.exists() and time.monotonic() < deadline:
            time.sleep(0.2)


class OutOfMemoryAbove(TrialHook):
    """Raise CUDA's out-of-memory error on every training micro-batch of more than ``fits``
    examples (0: on every batch), as a GPU too small for the batch does; with ``from_epoch``,
    only once that epoch is reported (a file in ``count_dir`` arms every copy of the hook). Each
    raise leaves a file ``oom-<batch>-*`` in ``count_dir``: a test counts them across processes."""

    def __init__(self, fits: int, count_dir: str, from_epoch: int = 0) -> None:
        self.fits, self.count_dir, self.from_epoch = fits, Path(count_dir), from_epoch

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict[str, Any]) -> None:
        if self.from_epoch and epoch >= self.from_epoch:
            (self.count_dir / "armed").touch()

    def training_batch(self, examples: int) -> None:
        armed = not self.from_epoch or (self.count_dir / "armed").exists()
        if armed and examples > self.fits:
            (self.count_dir / f"oom-{examples}-{uuid.uuid4().hex}").touch()
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate 2.00 GiB (injected: {examples} examples)"
            )


class KillAfterEpoch(TrialHook):
    """SIGKILL the trial's process once ``epoch`` is reported (first attempts): a worker lost
    after its last report, before its function returned."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict[str, Any]) -> None:
        if epoch == self.epoch and not resumed:
            os.kill(os.getpid(), signal.SIGKILL)


class KillOnReuse(TrialHook):
    """Once a first attempt reported ``epoch``, SIGKILL its process when Tune next hands that
    process to another trial (``reuse_actors``: in the ``reset`` task, before that trial runs).
    Fires once per sweep: it leaves the file ``mark``."""

    def __init__(self, epoch: int, mark: str) -> None:
        self.epoch, self.mark = epoch, Path(mark)

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict[str, Any]) -> None:
        if epoch != self.epoch or resumed or self.mark.exists():
            return
        from ray.tune.trainable import FunctionTrainable

        # The process's Tune trainable: Ray's actor class shadows methods of FunctionTrainable
        # with its own copies, so the instance is patched, not the class.
        (trainable,) = [o for o in gc.get_objects() if isinstance(o, FunctionTrainable)]
        reset_config, mark = trainable.reset_config, self.mark

        def killed_on_reset(new_config: dict) -> bool:
            if not mark.exists():
                mark.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return reset_config(new_config)

        trainable.reset_config = killed_on_reset


HOOKS = {
    "fail_after_epoch": FailAfterEpoch,
    "nan_loss_at_step": NanLossAtStep,
    "hold_after_epoch": HoldAfterEpoch,
    "out_of_memory_above": OutOfMemoryAbove,
    "kill_after_epoch": KillAfterEpoch,
    "kill_on_reuse": KillOnReuse,
}


def hooks_from_json(text: str) -> list[TrialHook]:
    return [HOOKS[name](**arguments) for name, arguments in json.loads(text).items()]


if __name__ == "__main__":
    from search.run import main

    sys.exit(main(sys.argv[2:], hooks=hooks_from_json(sys.argv[1])))
