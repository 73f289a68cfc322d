"""Who keeps which checkpoint, and for how long: the one owner of that policy.

A Tune checkpoint (weights plus AdamW's two moments: about 4 GB for roberta-large) exists to
resume a *running* trial, nothing else: Tune's retries and ``--resume`` after a killed driver
continue from it. Nothing reads it once the trial has ended (the report re-trains its
confirmation runs, which keep their model apart: ``trainable.best_model``), so:

- while a trial runs, Tune keeps its latest checkpoint only (``checkpoint_config``), plus a
  second one for the moment a new one is being written;
- once it has finished or been stopped early by the scheduler, its checkpoints are deleted
  (``DeleteEndedCheckpoints``) as soon as Tune's saved state no longer points at them;
- after ``fit`` returns, whatever the callback had no chance to delete goes too
  (``delete_checkpoints``), so a finished sweep's folder holds Tune's state and no weights.

An errored trial keeps its latest checkpoint: ``--resume`` runs it again from there under the
same trial id. Restarting it from scratch instead (Tune's ``restart_errored``) gives it a new
trial id that Ray 2.60's OptunaSearch never suggested, and the resumed driver failed with a
KeyError. Peak disk is therefore about ``max_concurrent`` checkpoints plus one per errored
trial, whatever the trial count.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ray import tune

CHECKPOINT_GLOB = "checkpoint_*"


def checkpoint_config() -> tune.CheckpointConfig:
    """Keep a running trial's latest checkpoint only (Tune deletes the previous one once the
    next is registered): what a retry resumes from."""
    return tune.CheckpointConfig(num_to_keep=1)


class DeleteEndedCheckpoints(tune.Callback):
    """Deletes an ended trial's checkpoints once Tune's saved state says it ended.

    Not at once: until a state save made after the trial ended has reached storage, Tune's saved
    state (what ``--resume`` restores after a killed driver) still says RUNNING, resuming from
    the latest checkpoint. Tune calls ``get_state`` at each state save (every 10 s or more),
    after writing the trials' states and before uploading them, so a folder is deleted at the
    second save after its trial ended. An errored trial keeps its checkpoint (module docstring).
    """

    def __init__(self) -> None:
        self._ended: list[Path] = []  # queued since the last state save
        self._saved: list[Path] = []  # queued before it: their trials' end is saved

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.path:
            self._ended.append(Path(trial.path))

    def get_state(self) -> None:
        _delete_in(self._saved)
        self._saved, self._ended = self._ended, []
        return None  # nothing to restore: after a resume, delete_checkpoints catches the rest


def delete_checkpoints(results: Iterable[Any]) -> None:
    """Delete the checkpoints of the finished trials among ``results`` (a ``ResultGrid``, once
    ``fit`` has returned: Tune saves no more state); errored trials keep theirs."""
    _delete_in(Path(result.path) for result in results if result.path and result.error is None)


def delete_checkpoints_under(run_folder: Path) -> None:
    """Delete every checkpoint of a Tune run's trials, errored ones' too: for a run that nothing
    will resume (the report's confirmation runs)."""
    _delete_in(folder for folder in run_folder.glob("*") if folder.is_dir())


def _delete_in(trial_folders: Iterable[Path]) -> None:
    for trial_folder in trial_folders:
        for checkpoint in trial_folder.glob(CHECKPOINT_GLOB):  # storage not on this disk: none
            shutil.rmtree(checkpoint, ignore_errors=True)


def checkpoint_bytes(folder: Path) -> int:
    """Bytes held in checkpoints under ``folder`` (a sweep's or a trial's)."""
    return sum(
        file.stat().st_size
        for checkpoint in folder.rglob(CHECKPOINT_GLOB)
        if checkpoint.is_dir()
        for file in checkpoint.rglob("*")
        if file.is_file()
    )
