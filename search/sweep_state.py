"""``sweep.json``, beside Tune's own state in the sweep's folder: what ``--resume`` checks before
any work (the same config, no fewer trials) and the MLflow parent run it reopens.

Every sweep writes it before Tune saves its first state, so a folder with Tune's state and no
``sweep.json`` is a single training (``search.trial``) or another Tune run, never a sweep.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from search import ray_tune
from search.config import TRAININGS_FOLDER, SweepConfig, changed_keys
from trainable.common.yaml_config import ConfigError

STATE_FILE = "sweep.json"
# Tune's saved state pickles our callbacks and functions by module path: a sweep saved under
# another layout of this code cannot be restored. Raise this whenever such a module moves.
LAYOUT = 2


@dataclass(frozen=True)
class SweepState:
    resume_hash: str  # SweepConfig.resume_hash: the config --resume must match
    resume_fields: dict[str, Any]  # what was hashed, so a refusal names the keys that changed
    num_samples: int  # trials so far: --resume takes as many or more (an extended sweep)
    parent_run_id: str | None  # the MLflow parent run --resume reopens (None: tracking off)

    @classmethod
    def of(cls, config: SweepConfig, parent_run_id: str | None) -> SweepState:
        return cls(
            config.resume_hash(), config.resume_fields(), config.search.num_samples, parent_run_id
        )

    def write(self, experiment_dir: Path) -> None:
        experiment_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"layout": LAYOUT, **asdict(self)}, indent=2)
        (experiment_dir / STATE_FILE).write_text(text, encoding="utf-8")


def check_start(config: SweepConfig, experiment_dir: Path, resume: bool) -> SweepState | None:
    """Refuse a start or a resume that cannot work, naming why; the saved state on resume."""
    if config.experiment.name == TRAININGS_FOLDER:
        raise ConfigError(
            "experiment.name",
            [
                f"{TRAININGS_FOLDER!r} is the folder of single trainings (search.trial) under "
                "storage.path; choose another name"
            ],
        )
    state_file = experiment_dir / STATE_FILE
    exists = ray_tune.can_restore(experiment_dir)
    if exists and not state_file.is_file():
        raise ConfigError(
            "experiment.name",
            [
                f"{experiment_dir} holds a single training (search.trial) or another Tune run, "
                "not a sweep: it cannot be resumed or extended; choose another name"
            ],
        )
    if resume and not exists:
        raise ConfigError("--resume", [f"no sweep to resume at {experiment_dir}"])
    if not resume and exists:
        raise ConfigError(
            "experiment.name",
            [f"{experiment_dir} already holds a sweep: add --resume or choose another name"],
        )
    if not resume:
        return None
    return _check_resume(_read(state_file, experiment_dir), config)


def _read(state_file: Path, experiment_dir: Path) -> SweepState:
    saved = json.loads(state_file.read_text(encoding="utf-8"))
    if saved.get("layout") != LAYOUT or "resume_hash" not in saved:
        raise ConfigError(
            "--resume",
            [
                f"{experiment_dir} was started by an older version of this service and cannot "
                "be resumed; start a new sweep (another experiment.name)"
            ],
        )
    return SweepState(
        resume_hash=saved["resume_hash"],
        resume_fields=saved.get("resume_fields", {}),
        num_samples=saved.get("num_samples", 0),
        parent_run_id=saved.get("parent_run_id"),
    )


def _check_resume(state: SweepState, config: SweepConfig) -> SweepState:
    if state.resume_hash != config.resume_hash():
        changed = changed_keys(state.resume_fields, config.resume_fields())
        named = f" ({', '.join(changed)})" if state.resume_fields and changed else ""
        raise ConfigError(
            "--resume",
            [
                f"the config changed since the sweep started{named}; resume with the same "
                "config and --set"
            ],
        )
    if config.search.num_samples < state.num_samples:
        raise ConfigError(
            "search.num_samples",
            [
                f"{config.search.num_samples} is fewer than the {state.num_samples} trials this "
                f"sweep has; --resume takes {state.num_samples} (continue) or more (add trials)"
            ],
        )
    return state
