"""The confirmation's Tune runs on disk, ``<storage>/<sweep>-confirm-<time>/``, and their weights.

A run's checkpoints serve Tune's retries while it trains, nothing after: no report resumes
another's Tune run (the next report trains again whatever MLflow lacks). A report's own run
loses them when its training ends, however it ends; a report killed mid-run cannot, so every
report first deletes those of the sweep's earlier runs, except the runs another report is still
training: a report holds an exclusive ``flock`` on its run's ``LOCK_FILE`` while it trains, and
the kernel releases it when that process ends, SIGKILL included.
"""

from __future__ import annotations

import fcntl
import glob
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from search.checkpoint_retention import delete_checkpoints_under

LOCK_FILE = ".report.lock"


def new_run_name(sweep_name: str) -> str:
    """``<sweep>-confirm-<time>-<random>``: two reports started in the same second (of this
    sweep) still train in folders of their own."""
    return f"{sweep_name}-confirm-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


@contextmanager
def held_run(storage_path: Path, name: str) -> Iterator[None]:
    """Hold run ``name`` while the block trains it; then delete its checkpoints."""
    folder = storage_path / name
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            delete_checkpoints_under(folder)


def delete_unheld_checkpoints(storage_path: Path, sweep_name: str) -> None:
    """Delete the checkpoints of the sweep's confirmation runs that no report holds."""
    for folder in storage_path.glob(f"{glob.escape(sweep_name)}-confirm-*"):
        if folder.is_dir() and not _held(folder):
            delete_checkpoints_under(folder)


def _held(folder: Path) -> bool:
    """True while a live report holds the run (a lock of this process's own counts too)."""
    path = folder / LOCK_FILE
    if not path.exists():
        return False
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False
