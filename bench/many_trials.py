"""Many trials on one driver: a long sweep of short trials against a real MLflow server.

    python bench/many_trials.py [--trials 200] [--measure-at 20] [--examples 300] [--json FILE]

Runs ``python -m search.run`` as a user would (the quickstart config with short trials: a few
hundred KLUE examples, 1–2 epochs, a tiny encoder, ``max_concurrent: 2``) with tracking to
``mlflow server`` on 127.0.0.1 (started here on SQLite unless ``--tracking-uri`` names one).

- When the driver prints that the ``--measure-at``-th and the last trial ended: the driver
  process's resident memory (and that of every process under it: Ray and the trial workers),
  the sweep folder's size, the part of it in checkpoints (model weights), and how many
  checkpoint folders the trials that ended before that one hold (none once deleted; the last
  few ended may still hold their latest for a state save or two, see
  ``search.checkpoint_retention``). After the sweep: the folder and its weights
  again (none left).
- After the sweep: MLflow's child runs (exactly one per trial id, none left RUNNING), Optuna's
  time to suggest a trial given the first ``--measure-at`` and all trials (TPE alone, in memory;
  and from the sweep's own SQLite study), and the per-trial overhead: the trial slots' time not
  spent inside a trial, ``(wall × max_concurrent − Σ trial seconds) / trials``.
Needs KLUE_RE_DIR. Prints a table; ``--json`` writes the figures (the test reads them).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import psutil

# Run as `python bench/many_trials.py`: put the repository root first on sys.path.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.support import start_mlflow_server, stop_mlflow_server  # noqa: E402
from search.checkpoint_retention import checkpoint_bytes  # noqa: E402
from search.config import load_sweep_config  # noqa: E402
from search.optuna_space import DefineByRun  # noqa: E402
from search.searcher import OPTUNA_STUDY, study_storage, sweep_sampler  # noqa: E402
from trainable.common.tracking.client import TRIAL_ID_TAG, tracking_client  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NAME = "many-trials"
SLOTS = 2  # trials at a time (max_concurrent), one CPU each
ENDED = re.compile(r"sweep: trial (\w+) (ended|errored) \| (\d+) of (\d+) trials ended")
SHORT_TRIALS = [
    "data.train_subsample={examples}", "data.dev_subsample=100", "data.max_length=96",
    "model.scratch.num_layers=1", "model.scratch.hidden_size=64", "model.scratch.num_heads=2",
    "model.scratch.intermediate_size=128", "model.scratch.vocab_size=2000",
    "train.batch_size=16", "train.log_every_steps=1000", f"search.max_concurrent={SLOTS}",
    "search.space.num_train_epochs.int=[1, 2]", "search.num_samples={trials}",
]  # fmt: skip


def sweep_overrides(args: argparse.Namespace, workdir: Path, tracking_uri: str) -> list[str]:
    return [
        *(item.format(examples=args.examples, trials=args.trials) for item in SHORT_TRIALS),
        f"data.cache_dir={workdir / 'cache'}", f"storage.path={workdir / 'results'}",
        f"tracking.uri={tracking_uri}", f"tracking.experiment={NAME}", f"experiment.name={NAME}",
    ]  # fmt: skip


def snapshot(driver: psutil.Process, experiment_dir: Path, ended_before: list[str]) -> dict:
    """Memory and disk now, and how many checkpoints each trial that ended earlier holds."""
    tree = [driver, *driver.children(recursive=True)]
    return {
        "driver_rss_mb": driver.memory_info().rss / 2**20,
        "tree_rss_mb": sum(_rss(process) for process in tree) / 2**20,
        "disk_mb": folder_bytes(experiment_dir) / 2**20,
        "checkpoint_mb": checkpoint_bytes(experiment_dir) / 2**20,
        "checkpoints_of_ended": dict(
            Counter(
                len(list((experiment_dir / f"trial_{trial}").glob("checkpoint_*")))
                for trial in ended_before
            )
        ),
    }


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:  # ended between listing and reading
        return 0


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def run_sweep(args: argparse.Namespace, workdir: Path, tracking_uri: str) -> dict:
    """The sweep as a subprocess, read line by line; snapshots at the chosen trial ends."""
    command = [sys.executable, "-m", "search.run", "--config", "configs/quickstart.yaml"]
    for override in sweep_overrides(args, workdir, tracking_uri):
        command += ["--set", override]
    experiment_dir = workdir / "results" / NAME
    ended: list[str] = []  # trials whose end the driver printed, errored ones left out
    snapshots: dict[int, dict] = {}
    log = (workdir / "sweep.log").open("w")
    started = time.perf_counter()
    sweep = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
    driver = psutil.Process(sweep.pid)
    for line in sweep.stdout:
        log.write(line)
        match = ENDED.search(line)  # Ray's log lines share the stream: a prefix is possible
        if not match:
            continue
        count = int(match.group(3))
        if count in (args.measure_at, args.trials):
            if sweep.poll() is not None:
                sys.exit(f"the driver exited before it could be measured: {workdir / 'sweep.log'}")
            # Tune calls a trial's end callbacks in turn: those of every trial before this
            # one have run (pruning included), this one's may still be running.
            snapshots[count] = snapshot(driver, experiment_dir, list(ended))
            snapshots[count]["elapsed_s"] = time.perf_counter() - started
            print(f"  at trial {count}: {json.dumps(_rounded(snapshots[count]))}", flush=True)
        if match.group(2) == "ended":
            ended.append(match.group(1))
    wall = time.perf_counter() - started
    log.close()
    if sweep.wait() != 0:
        sys.exit(f"the sweep failed; its output: {workdir / 'sweep.log'}")
    if set(snapshots) != {args.measure_at, args.trials}:
        sys.exit(
            f"the driver's progress lines never said trial {args.measure_at} or {args.trials} "
            f"ended (has their format changed?); its output: {workdir / 'sweep.log'}"
        )
    return {
        "wall_s": wall,
        "snapshots": snapshots,
        "ended_order": ended,
        "final_disk_mb": folder_bytes(experiment_dir) / 2**20,
        "final_checkpoint_mb": checkpoint_bytes(experiment_dir) / 2**20,
    }


def mlflow_children(tracking_uri: str) -> dict:
    client = tracking_client(tracking_uri)
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`mlflow.parentRunId` != ''", max_results=5000
    )
    trial_ids = [run.data.tags.get(TRIAL_ID_TAG) for run in runs]
    return {
        "child_runs": len(runs),
        "distinct_trial_ids": len(set(trial_ids) - {None}),
        "statuses": sorted({run.info.status for run in runs}),
    }


def suggest_seconds(config_overrides: list[str], experiment_dir: Path, first: int | None) -> float:
    """Median seconds for Optuna to suggest one more trial after the sweep's first ``first``
    trials (in memory: TPE's own cost), or from a copy of the sweep's study (``first=None``:
    SQLite included, as the sweep pays it)."""
    config = load_sweep_config(REPO / "configs" / "quickstart.yaml", config_overrides)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / OPTUNA_STUDY
        shutil.copy(experiment_dir / OPTUNA_STUDY, copy)
        saved = optuna.load_study(study_name=NAME, storage=study_storage(copy))
        if first is None:
            study = saved
        else:
            study = optuna.create_study(
                direction="maximize" if config.search.mode == "max" else "minimize"
            )
            study.add_trials(saved.get_trials(deepcopy=False)[:first])
        study.sampler = sweep_sampler(config)
        space = DefineByRun(config.search.space)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            space(study.ask())
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def trial_seconds(experiment_dir: Path) -> dict[str, float]:
    """Each trial's time inside the trainable (Tune's ``time_total_s``, last result), by id."""
    seconds = {}
    for results in experiment_dir.glob("trial_*/result.json"):
        lines = results.read_text().splitlines()
        seconds[results.parent.name.removeprefix("trial_")] = (
            json.loads(lines[-1])["time_total_s"] if lines else 0.0
        )
    return seconds


def overhead(figures: dict, seconds: dict[str, float]) -> dict[str, float]:
    """Slot time not spent in trials, per trial: over the whole command (start-up included) and
    in steady state, from the early snapshot to the last trial's end."""
    trials, early = figures["trials"], figures["measure_at"]
    later = figures["ended_order"][early:]
    steady_wall = (
        figures["snapshots"][trials]["elapsed_s"] - figures["snapshots"][early]["elapsed_s"]
    )
    return {
        "whole_run": (figures["wall_s"] * SLOTS - sum(seconds.values())) / trials,
        "steady": (steady_wall * SLOTS - sum(seconds[t] for t in later)) / len(later),
    }


def _rounded(values: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--measure-at", type=int, default=20, help="the early snapshot's trial")
    parser.add_argument("--examples", type=int, default=300, help="train subsample per trial")
    parser.add_argument("--tracking-uri", help="an MLflow server to use (default: start one)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if not 0 < args.measure_at < args.trials:
        parser.error("--measure-at must be between 0 and --trials")
    workdir = Path(tempfile.mkdtemp(prefix="many-trials-"))
    server = None
    tracking_uri = args.tracking_uri
    if tracking_uri is None:
        (workdir / "mlflow").mkdir()
        server, tracking_uri = start_mlflow_server(workdir / "mlflow")
    try:
        print(f"{args.trials} trials, {args.examples} examples each; work folder {workdir}")
        figures = {"trials": args.trials, "measure_at": args.measure_at}
        figures |= run_sweep(args, workdir, tracking_uri)
        figures |= mlflow_children(tracking_uri)
    finally:
        if server is not None:
            stop_mlflow_server(server)
    experiment_dir = workdir / "results" / NAME
    overrides = sweep_overrides(args, workdir, tracking_uri)
    figures["suggest_s"] = {
        str(args.measure_at): suggest_seconds(overrides, experiment_dir, args.measure_at),
        str(args.trials): suggest_seconds(overrides, experiment_dir, args.trials),
        f"{args.trials} (SQLite)": suggest_seconds(overrides, experiment_dir, None),
    }
    seconds = trial_seconds(experiment_dir)
    figures["trial_s_median"] = sorted(seconds.values())[len(seconds) // 2]
    figures["overhead_s_per_trial"] = overhead(figures, seconds)
    print(json.dumps(figures, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
