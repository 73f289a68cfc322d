"""Hooks into a running trial, for whoever runs it: the tests inject faults through them (a
failure after an epoch, a NaN loss, an out-of-memory error) to prove retries, the NaN guard and
the batch fallback on real training; a normal sweep passes none. Hooks travel to trials with the
settings through Ray's object store, so a hook must be picklable by reference: a class defined in
an importable module."""

from __future__ import annotations

from typing import Any


class TrialHook:
    """Every method does nothing; a hook overrides what it needs."""

    def after_epoch(self, epoch: int, *, resumed: bool, sampled: dict[str, Any]) -> None:
        """Called once ``epoch`` is reported and its checkpoint persisted. ``resumed``: this
        attempt started from a checkpoint; ``sampled``: the trial's sampled values."""

    def training_loss(self, loss: Any, step: int) -> Any:
        """The training loss of step ``step`` (from 1), before the finite-loss check."""
        return loss

    def training_batch(self, examples: int) -> None:
        """Called with the size of each training micro-batch before its loss is computed (after
        the forward pass, where a GPU too small for the batch would run out of memory)."""
