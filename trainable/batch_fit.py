"""A trial's batch, shrunk when the GPU runs out of memory, with the effective batch kept.

On an out-of-memory error the per-device batch halves and gradient accumulation doubles: the
examples per optimizer step, the steps per epoch and so the learning-rate schedule stay what the
trial sampled, and training goes on from the last epoch's checkpoint (epochs already reported
are not trained or reported again). The evaluation batch shrinks by the same factor.

HF's ``TrainingArguments.auto_find_batch_size`` is not used: it shrinks the batch by 10 % and
leaves accumulation alone (the effective batch, hence the result, would depend on the GPU), and
it re-runs the training loop from where ``train()`` began with the weights the failed attempt
had already updated. Both build on accelerate's ``find_executable_batch_size``; this module gives
it our reduction rule. Out of memory at batch 1 is a ``BatchTooLargeError``, which Tune's retries
do not repeat (``trainable.permanent``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from accelerate.utils import find_executable_batch_size

from trainable.common.settings import TrainSettings
from trainable.permanent import PermanentTrialError
from trainable.release import release_memory

T = TypeVar("T")
BATCH_TAG = "train.batch_size_used"
ACCUMULATION_TAG = "train.gradient_accumulation_used"


class BatchTooLargeError(PermanentTrialError):
    """Out of GPU memory even at one example per device: no batch size fits."""


@dataclass(frozen=True)
class BatchFit:
    """Per-device batch, micro-batches per optimizer step and evaluation batch, as trained."""

    batch_size: int
    accumulation: int
    eval_batch_size: int

    @classmethod
    def configured(cls, train: TrainSettings) -> BatchFit:
        return cls(train.batch_size, train.gradient_accumulation_steps, train.eval_batch_size)

    @property
    def effective(self) -> int:
        """Examples per optimizer step (per device)."""
        return self.batch_size * self.accumulation

    def halved(self) -> BatchFit | None:
        """The next smaller fit: the largest divisor of the batch at most half of it (exactly
        half when even), so the effective batch stays exact; None at batch 1."""
        if self.batch_size == 1:
            return None
        smaller = next(d for d in range(self.batch_size // 2, 0, -1) if self.batch_size % d == 0)
        factor = self.batch_size // smaller
        return BatchFit(smaller, self.accumulation * factor, max(1, self.eval_batch_size // factor))

    def applied(self, train: TrainSettings) -> TrainSettings:
        return train.model_copy(
            update={
                "batch_size": self.batch_size,
                "gradient_accumulation_steps": self.accumulation,
                "eval_batch_size": self.eval_batch_size,
            }
        )

    def tags(self) -> dict[str, str]:
        """MLflow tags (tags, not params: a later shrink overwrites them)."""
        return {BATCH_TAG: str(self.batch_size), ACCUMULATION_TAG: str(self.accumulation)}


def train_within_memory(train: Callable[[BatchFit], T], start: BatchFit) -> T:
    """``train(fit)`` from ``start``, again at the next smaller fit after each out-of-memory
    error (as accelerate recognises one); ``BatchTooLargeError`` once batch 1 does not fit."""
    fit = start

    def shrink() -> int:
        nonlocal fit
        smaller = fit.halved()
        if smaller is None:
            raise BatchTooLargeError(
                f"out of GPU memory even at per-device batch 1 (configured: batch "
                f"{start.batch_size} x accumulation {start.accumulation}); a smaller model or "
                "data.max_length, or a larger GPU share (resources.gpu), is needed"
            )
        print(
            f"out of memory at per-device batch {fit.batch_size}: continuing at batch "
            f"{smaller.batch_size} x accumulation {smaller.accumulation} (effective batch "
            f"{smaller.effective} kept)",
            flush=True,
        )
        fit = smaller
        return fit.batch_size

    @find_executable_batch_size(starting_batch_size=start.batch_size, reduce_batch_size_fn=shrink)
    def attempt(batch_size: int) -> T:
        release_memory()  # what a failed attempt held
        return train(fit)

    return attempt()
