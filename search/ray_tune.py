"""Ray Tune on the driver, wrapped in one place: start Ray on loopback, build or restore a
Tuner, run it (what a trial asks Tune is ``trainable.tune_session``).

Current APIs only: ``tune.Tuner`` / ``tune.RunConfig`` / ``tune.FailureConfig``; never
``tune.run`` or ``ray.air``. The sweep, the single-trial run and the report's
confirmation all build their Tuner with ``build_tuner``, so checkpoint retention, trial folders
and interruption are handled alike.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial

from search.checkpoint_retention import (
    DeleteEndedCheckpoints,
    checkpoint_config,
    delete_checkpoints,
)
from search.reuse_failures import count_reset_failures_once
from trainable.common.cli import Interrupted
from trainable.common.directions import direction

# Keep Ray on loopback for local runs: with this set every Ray address is 127.0.0.1 (by default
# Ray binds to the network address even for ray.init()). The processes Ray starts read it from
# the environment; this one read it when it imported Ray (``_stay_on_loopback``).
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# A reused trial process waits this long for the previous trial's function to return after its
# last report (ending its MLflow run, stopping the system monitor, freeing memory): Tune's 2 s
# default was exceeded on a loaded box, the next trial then failed with "Trainable runner reuse
# requires reset_config() to be implemented and return True", and Tune 2.60 never told the
# searcher, so the sweep waited forever for a trial slot. Read in the trial processes.
REUSE_ENV = {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "600"}
# Trial folders (and trial names) are ours, not derived from the trainable's function name:
# the driver deletes folders of forgotten trials by this prefix.
TRIAL_FOLDER_PREFIX = "trial_"


class FitInterrupted(Interrupted):
    """Tune returned before every trial ended (Ctrl-C); what finished is kept."""


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (else ``$RAY_ADDRESS``, which ``ray job submit`` sets),
    or start a local Ray bound to 127.0.0.1 (once)."""
    if ray.is_initialized():
        return
    for key, value in REUSE_ENV.items():  # a cluster's nodes set it in their image
        os.environ.setdefault(key, value)
    address = address or os.environ.get("RAY_ADDRESS")
    if address:  # a cluster's driver keeps the address its node has: no loopback here
        ray.init(address=address)
        return
    _stay_on_loopback()
    _private_token_file()
    # "local", not None: with None, ray.init joins the cluster named in the machine's
    # /tmp/ray/ray_current_cluster (the last `ray start` or ray.cluster_utils head, perhaps
    # another user's) and our trials run, and die, there.
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)


def _stay_on_loopback() -> None:
    """Every address of the local Ray on 127.0.0.1, also when ``python -m search.run`` runs
    without the Makefile's environment: Ray read ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` into
    ``ray_constants.ENABLE_RAY_CLUSTER`` when this process imported it, and a value set only
    now reached the processes Ray starts but not this one, which then handed them the machine's
    network address. An explicit ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1`` is kept. Written
    against Ray 2.60 (``tests/search/test_ray_local.py`` fails if it moves)."""
    from ray._private import ray_constants

    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    ray_constants.ENABLE_RAY_CLUSTER = os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] != "0"


def stop_ray() -> None:
    """Shut Ray down, so that the trials' buffered log lines are printed now, not after ours."""
    if ray.is_initialized():
        ray.shutdown()


def _private_token_file() -> None:
    """A new local Ray turns on token authentication and writes ``~/.ray/auth_token`` with the
    process umask (0644 in a 0755 folder): another local user could read it and run code in our
    Ray, whose workers hold MLFLOW_TRACKING_PASSWORD. Both are made private first; Ray keeps a
    token it finds (a 256-bit hex string, as its own generator makes)."""
    folder = Path.home() / ".ray"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    token = folder / "auth_token"
    try:
        descriptor = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token.chmod(0o600)
        return
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32))


def trial_folder_name(trial: Any) -> str:
    """``trial_<id>``: a module-level function, so Tune can pickle it into its saved state."""
    return f"{TRIAL_FOLDER_PREFIX}{trial.trial_id}"


class OnTrialEnd(tune.Callback):
    """Calls ``on_end(trial_id, sampled, last_result, error)`` when Tune ends a trial: it
    finished, the scheduler stopped it, or it errored for good (``error`` is then set)."""

    def __init__(self, on_end: Callable[[str, dict, dict, BaseException | None], None]) -> None:
        self.on_end = on_end

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.on_end(trial.trial_id, trial.config, trial.last_result or {}, None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.on_end(trial.trial_id, trial.config, trial.last_result or {}, trial.get_error())


class Progress(tune.Callback):
    """A line whenever a trial starts or ends: how many ended of how many planned, how many run,
    and the time since this driver started (Tune's own status table comes only every so often,
    and a long trial in between says nothing). ``label`` starts each line: ``sweep``, ..."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.planned: int | None = None
        self.started = time.monotonic()

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:
        self.planned = total_num_samples
        self.started = time.monotonic()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trials, trial, "started", running=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trials, trial, "ended", running=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trials, trial, "errored", running=False)

    def _say(self, trials: list, trial: Any, event: str, running: bool) -> None:
        """Tune updates ``trial``'s status after telling its callbacks: count it as it will be."""
        others = [t for t in trials if t.trial_id != trial.trial_id]
        ended = sum(t.status in (Trial.TERMINATED, Trial.ERROR) for t in others) + (not running)
        active = sum(t.status == Trial.RUNNING for t in others) + running
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        print(
            f"{self.label}: trial {trial.trial_id} {event} | {ended} of "
            f"{self.planned or len(trials)} "
            f"trials ended, {active} running | {minutes}m{seconds:02d}s elapsed",
            flush=True,
        )


def build_tuner(
    trainable: Callable[..., None],
    shared: dict[str, Any],
    resources: dict[str, float],
    *,
    name: str,
    storage_path: Path,
    metric: str,
    param_space: dict[str, Any] | None = None,
    num_samples: int = 1,
    max_concurrent: int | None = None,
    search_alg: Any = None,
    scheduler: Any = None,
    max_failures: int = 0,
    callbacks: Sequence[tune.Callback] = (),
    reuse_actors: bool = False,
    stop: tune.Stopper | None = None,
) -> tune.Tuner:
    """A Tuner over ``trainable`` (``shared`` reaches every trial through Ray's object store).

    A running trial keeps its latest checkpoint, which ``max_failures`` retries resume from; an
    ended trial keeps none (``checkpoint_retention``). ``reuse_actors`` keeps a process for the
    next trial: no torch/transformers re-import (a process lost as it is handed over counts as
    one failure: ``reuse_failures``). ``stop`` ends trials or the whole run early (the
    search-efficiency bench stops at a compute budget)."""
    count_reset_failures_once()
    return tune.Tuner(
        _with_resources(trainable, shared, resources),
        param_space=param_space or {},
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=scheduler,
            metric=metric,
            mode=direction(metric),
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent,
            reuse_actors=reuse_actors,
            trial_name_creator=trial_folder_name,
            trial_dirname_creator=trial_folder_name,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(storage_path),
            checkpoint_config=checkpoint_config(),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            callbacks=[*callbacks, DeleteEndedCheckpoints()],
            stop=stop,
            verbose=1,
        ),
    )


def can_restore(experiment_dir: Path) -> bool:
    return tune.Tuner.can_restore(str(experiment_dir))


def restore_tuner(
    experiment_dir: Path,
    trainable: Callable[..., None],
    shared: dict[str, Any],
    resources: dict[str, float],
    num_samples: int | None = None,
) -> tune.Tuner:
    """The saved Tuner at ``experiment_dir``: unfinished and errored trials resume from their
    latest checkpoint. With
    ``num_samples`` above the saved trial count, the searcher also suggests trials up to it
    (an extended sweep); a count at or below the saved one changes nothing."""
    if num_samples is not None:
        _raise_saved_num_samples(experiment_dir, num_samples)
    count_reset_failures_once()
    return tune.Tuner.restore(
        str(experiment_dir),
        trainable=_with_resources(trainable, shared, resources),
        resume_unfinished=True,
        resume_errored=True,
    )


def _raise_saved_num_samples(experiment_dir: Path, num_samples: int) -> None:
    """Raise the trial count saved with the experiment to ``num_samples``.

    ``Tuner.restore`` takes no ``num_samples``: the restored search algorithm keeps the count it
    was saved with (``total_samples`` in the newest ``search_gen_state-*.json``, a cloudpickle
    that Ray reads back with ``_load_newest_checkpoint``), and Ray does not support changing an
    experiment's spec on restore. Rewriting that one field (atomically, with Ray's own
    ``_atomic_save``) is the smallest change that adds trials to the same experiment, with the
    searcher's history intact. It depends on Ray's file layout (written against Ray 2.60);
    ``tests/search/test_extend.py`` fails if a Ray upgrade changes it."""
    from ray import cloudpickle
    from ray.tune.search.search_generator import SearchGenerator
    from ray.tune.utils.util import _atomic_save

    saved = experiment_dir.glob(SearchGenerator.CKPT_FILE_TMPL.format("*"))
    newest = max(saved, key=str, default=None)  # the one _load_newest_checkpoint restores
    if newest is None:
        return  # Tune saves it with the experiment's state: a restorable sweep has one
    state = cloudpickle.loads(newest.read_bytes())
    if state["total_samples"] >= num_samples:
        return
    state["total_samples"] = num_samples
    _atomic_save(state, str(experiment_dir), newest.name, f"tmp-{newest.name}")


def fit(tuner: tune.Tuner, trials: int) -> tune.ResultGrid:
    """Run the Tuner; raise ``FitInterrupted`` when Tune returned before all ``trials`` ended
    (on Ctrl-C, Tune saves its state and returns the results so far: running trials keep their
    checkpoints for ``--resume``). Once all have ended, only errored trials keep one."""
    results = tuner.fit()
    if results.num_terminated + results.num_errors < trials:
        raise FitInterrupted(f"{results.num_terminated + results.num_errors} of {trials} ended")
    delete_checkpoints(results)
    return results


def grid(values: list[Any]) -> dict[str, Any]:
    """Tune's grid search over ``values``: one trial each."""
    return tune.grid_search(values)


def _with_resources(
    trainable: Callable[..., None], shared: dict[str, Any], resources: dict[str, float]
) -> Any:
    return tune.with_resources(tune.with_parameters(trainable, **shared), resources)
