"""The sweep's MLflow side, on the driver: the parent run, the runs of trials Tune ended before
their trial could (stopped at a rung, lost with a node), and settling every run after the sweep.
Tracking off (no ``tracking.uri``) is a ``NullSweepTracking``; the driver never asks which.
``results`` below are Tune's ``ResultGrid``.

An MLflow outage never costs the sweep: what cannot be written is said in the summary, and the
trials' outboxes keep their records for ``--resume``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from search import ray_tune
from search.config import SweepConfig
from search.markdown import error_line
from search.tracking import SweepDescription, SweepRun
from trainable.common.redact import portable_path, portable_text
from trainable.common.settings import TrialSettings
from trainable.common.tracking import (
    METRIC_TAG,
    SEARCH_ARTIFACT,
    SEARCHED_TAG,
    RunEnd,
    bounded_requests,
    is_outage,
)
from trainable.common.yaml_config import dump_yaml
from trainable.tracking import OUTBOX_DIR, flush_outboxes

UNTRACKED_PARAMS = (
    ("search", "space"),
    ("search", "warm_start"),
    ("search", "num_samples"),
    ("tracking", "uri"),
    ("tracking", "parent_run_id"),
)


class NullSweepTracking:
    """No MLflow: every step is a no-op."""

    run_id: str | None = None

    def with_parent_run(self, settings: TrialSettings) -> TrialSettings:
        return settings

    def log_data(self, guids_by_split: dict[str, list[str]], files: dict) -> None:
        pass

    def callbacks(self) -> list[ray_tune.OnTrialEnd]:
        return []

    def interrupt(self) -> None:
        pass

    def settle(self, results: Any, experiment_dir: Path) -> tuple[dict, list[str]]:
        return {}, []

    def finish(self, summary_markdown: str, best_scores: dict[str, float], failed: bool) -> None:
        pass


class SweepTracking(NullSweepTracking):
    def __init__(self, sweep: SweepRun, default_epochs: int, local: Sequence[Path] = ()) -> None:
        self.sweep = sweep
        self.default_epochs = default_epochs
        self.local = list(local)  # folders the summary names, shown portable in MLflow

    @classmethod
    def open(cls, config: SweepConfig, experiment_dir: Path, run_id: str | None) -> SweepTracking:
        """Create the parent run, or reopen ``run_id`` when the sweep resumes."""
        tags = {
            "sweep.config_hash": config.config_hash(),
            "ray.experiment_path": portable_path(experiment_dir),
            METRIC_TAG: config.search.metric,
            SEARCHED_TAG: ",".join(config.search.space),
            "sweep.num_samples": str(config.search.num_samples),  # --resume may raise it
        }
        describe = SweepDescription(
            sweep_params(config), {SEARCH_ARTIFACT: dump_yaml(config.search, exclude_none=True)}
        )
        sweep = SweepRun.open(
            config.tracking, config.experiment.name, tags, run_id=run_id, describe=describe
        )
        local = [experiment_dir, config.data.resolved_dir(), config.data.resolved_cache_dir()]
        return cls(sweep, config.train.num_train_epochs, local)

    @property
    def run_id(self) -> str:
        return self.sweep.run_id

    def with_parent_run(self, settings: TrialSettings) -> TrialSettings:
        """Trials open their runs under the parent run."""
        tracking = settings.tracking.model_copy(update={"parent_run_id": self.sweep.run_id})
        return settings.model_copy(update={"tracking": tracking})

    def log_data(self, guids_by_split: dict[str, list[str]], files: dict) -> None:
        self.sweep.log_data(guids_by_split, files)

    def callbacks(self) -> list[ray_tune.OnTrialEnd]:
        """Ends the MLflow run of a trial Tune ended before the trial could: one stopped at a
        rung (tagged ``stopped_early``), or one lost with its node. Never fails the sweep: the
        end of the sweep settles what this could not."""
        return [ray_tune.OnTrialEnd(self._close_trial_run)]

    def _close_trial_run(
        self, trial_id: str, sampled: dict, last_result: dict, error: BaseException | None
    ) -> None:
        end = self._end(sampled, last_result, error)
        tolerate_outage("closing a trial's run", lambda: self.sweep.close_child(trial_id, end))

    def _end(self, sampled: dict, last_result: dict, error: BaseException | None) -> RunEnd:
        """FAILED with the error's last line, else FINISHED, ``stopped_early`` when the trial
        reported fewer epochs than it planned."""
        if error is not None:
            return RunEnd.failed(error_line(error))
        planned = int(sampled.get("num_train_epochs", self.default_epochs))
        return RunEnd.finished(stopped_early=int(last_result.get("epoch", 0)) < planned)

    def interrupt(self) -> None:
        tolerate_outage("marking the interrupted runs KILLED", self.sweep.interrupt)

    def settle(self, results: Any, experiment_dir: Path) -> tuple[dict[str, str], list[str]]:
        """After the sweep: send the records trials kept while MLflow was unreachable, close every
        trial's run, drop runs of forgotten trials. Returns trial id → run id and notes for the
        summary; what MLflow still lacks is said there, never left as a silent gap."""
        notes = [f"MLflow parent run: {self.sweep.run_id}"]
        unsent = flush_outboxes(experiment_dir)
        if unsent:
            notes.append(
                f"MLflow has not received {sum(unsent.values())} record(s) of {len(unsent)} "
                f"trial(s) ({', '.join(sorted(unsent))}): the server did not answer. They are "
                f"kept in {experiment_dir / OUTBOX_DIR}; `--resume` sends them once it answers."
            )
        ends = {
            r.metrics.get("trial_id"): self._end(r.config or {}, r.metrics or {}, r.error)
            for r in results
        }
        try:
            with bounded_requests():
                orphans = self.sweep.drop_orphans(set(ends))
                self.sweep.close_children(ends)
                run_ids = {trial: run.info.run_id for trial, run in self.sweep.child_runs().items()}
        except Exception as error:
            if not is_outage(error):
                raise
            notes.append(f"MLflow unreachable at the end of the sweep ({error_line(error)}).")
            return {}, notes
        if orphans:
            notes.append(
                f"{orphans} MLflow run(s) of trials lost with a killed driver were deleted "
                "(restorable in MLflow); the resumed sweep re-ran those trials."
            )
        return run_ids, notes

    def finish(self, summary_markdown: str, best_scores: dict[str, float], failed: bool) -> None:
        tolerate_outage(
            "closing the parent run",
            lambda: self.sweep.finish(
                portable_text(summary_markdown, self.local), best_scores, failed=failed
            ),
        )


def sweep_params(config: SweepConfig) -> dict[str, str]:
    """The sweep's settings as flat MLflow params (``train.learning_rate``, ``search.seed``, ...).
    Left out: the space and warm-start points (the ``search.yaml`` file holds them), the trial
    count (``--resume`` may raise it; a tag holds it) and the tracking URI (it may carry
    credentials, and every reader of the experiment sees params). Locations are portable."""
    data = config.portable().model_dump(mode="json", by_alias=True)
    for section, key in UNTRACKED_PARAMS:
        data.get(section, {}).pop(key, None)
    return {key: _param_text(value) for key, value in _flatten(data).items()}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _param_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def tolerate_outage(doing: str, call: Callable[[], None]) -> None:
    """Run an MLflow call whose failure must not cost the sweep: warn and go on."""
    try:
        with bounded_requests():
            call()
    except Exception as error:
        if not is_outage(error):
            raise
        print(f"warning: MLflow unreachable while {doing}: {error_line(error)}", flush=True)
