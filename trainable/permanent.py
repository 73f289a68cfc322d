"""Failures that a retry would only repeat, kept from being retried.

Tune retries every failed trial the same way (``failure.max_retries``); it has no notion of an
error that is certain to come back. A ``PermanentTrialError`` (e.g. the model does not fit in GPU
memory even at batch 1) is recorded in the trial's own folder; a retry of that trial finds the
record and fails at once with the same message, before it loads a model or touches MLflow. The
folder is the trial's local one in this Ray session: ``--resume`` (a new session, perhaps on a
bigger GPU) tries the trial again, and a retry placed on another node repeats the work once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

RECORD = "permanent_failure.txt"


class PermanentTrialError(RuntimeError):
    """A trial failure that does not depend on chance: retrying it would fail the same way.
    Subclasses are known by name, so a retry raises the recorded type again."""

    kinds: ClassVar[dict[str, type[PermanentTrialError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        PermanentTrialError.kinds[cls.__name__] = cls


def record(error: PermanentTrialError, trial_dir: Path) -> None:
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / RECORD).write_text(f"{type(error).__name__}\n{error}", encoding="utf-8")


def raise_if_recorded(trial_dir: Path) -> None:
    """Raise the recorded failure again (same type name and message) when there is one."""
    path = trial_dir / RECORD
    if not path.is_file():
        return
    name, _, message = path.read_text(encoding="utf-8").partition("\n")
    raise PermanentTrialError.kinds.get(name, PermanentTrialError)(message)
