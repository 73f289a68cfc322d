"""Faults at random moments: kill parts of running sweeps and check that nothing changed.

    python bench/chaos.py [--quick] [--faults N] [--seed S] [--out DIR]

Runs small real sweeps (the quickstart space on a few hundred KLUE examples, a 1-layer 64-wide
encoder, two trials at a time, every trial to its last epoch) through ``python -m search.run``
against a real ``mlflow server`` on 127.0.0.1, first once without faults, then one sweep per
episode with faults of one kind at moments drawn from a seeded schedule:

- ``driver``: SIGKILL of the driver, then the same command with ``--resume`` (1-2 per episode);
- ``worker``: SIGKILL of a trial's worker process (``failure.max_retries`` lets Tune retry it
  from its checkpoint);
- ``mlflow``: SIGKILL of the MLflow server, restarted after a pause of 1-60 s (1-5 s with
  ``--quick``); should the sweep end during the outage, ``--resume`` sends what MLflow missed;
- ``node``: loss of a worker node of a 2-node local cluster the driver joins (``ray.address``),
  a new node joining 5-30 s later;
- ``report``: SIGKILL of ``search.report`` during its confirmation, then the same command again.

A moment is drawn uniformly over the window in which the fault can hit, measured on the
fault-free run: from the first trial's start to the last trial's end for the sweep's faults, the
confirmation's training for the report's. After each sweep and report, ``bench/chaos_checks.py``
checks it against the fault-free run. Episodes go on until ``--faults`` were injected; every kind
gets its turn in a seeded order. Writes ``DIR/chaos.json`` after every episode (per kind
``injected``, ``survived``, ``violations``; the seed) and prints a table. Needs KLUE_RE_DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from mlflow.tracking import MlflowClient

# Run as `python bench/chaos.py`: put the repository root first on sys.path.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench import chaos_checks as checks  # noqa: E402
from bench.support import TINY_MODEL, free_port, start_mlflow_server  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KINDS = ("driver", "worker", "mlflow", "node", "report")
TRIALS = 4
SWEEP = [
    "data.train_subsample=300", "data.dev_subsample=100", "data.max_length=96", *TINY_MODEL,
    "train.batch_size=16", "train.log_every_steps=1000", "search.max_concurrent=2",
    f"search.num_samples={TRIALS}", "search.space.num_train_epochs.int=[2, 3]",
    "search.scheduler.type=none",  # ASHA's cuts depend on the order results arrive
    "search.metric=auprc",  # a 1-layer encoder on 300 examples predicts no relation: F1 ties
    "failure.max_retries=3", "resources.cpu=1",
]  # fmt: skip
REPORT = ["--confirm", "1", "--seeds", "2", "--no-register"]
# The lines a fault's window is measured between (regular expressions): from the first trial's
# start to the last one's end, for the sweep and for the report's confirmation.
STARTED = "sweep: trial "
CONFIRMING = "confirmation: training"
LAST_ENDED = r"{stage}: trial \w+ ended \| (\d+) of \1 trials ended"
OUTAGE = "MLflow unreachable"  # the driver's words when the server missed the sweep's end
BENCH_LINE = "=== bench: "  # separates a process's log from the one restarted after it
TIMEOUT_S = 900  # one process of an episode; far above what a healthy one takes


@dataclass
class Server:
    """The bench's ``mlflow server``; killed and restarted on the same port and store."""

    folder: Path
    port: int
    process: subprocess.Popen | None = None
    uri: str = ""

    def start(self) -> None:
        self.process, self.uri = start_mlflow_server(self.folder, self.port)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@dataclass
class Episode:
    kind: str
    moments: list[float]  # fractions of the window the fault can hit in
    pauses: list[float] = field(default_factory=list)  # s before the server or node returns


@dataclass
class Outcome:
    injected: int = 0
    survived: bool = True
    violations: list[str] = field(default_factory=list)
    reported_before: set = field(default_factory=set)  # trials with an epoch before a fault
    same_trials: bool = False  # the sweep holds the fault-free run's trials


def schedule(rng: random.Random, kind: str, quick: bool) -> Episode:
    count = rng.choice((1, 2)) if kind in ("driver", "worker") and not quick else 1
    moments = sorted(rng.uniform(0.05, 0.95) for _ in range(count))
    if kind == "mlflow":
        return Episode(kind, moments, [rng.uniform(1, 5 if quick else 60)])
    if kind == "node":
        return Episode(kind, moments, [rng.uniform(2, 5 if quick else 30)])
    return Episode(kind, moments)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.rng = random.Random(args.seed)
        self.server = Server(workdir / "mlflow", free_port())
        self.server.folder.mkdir(parents=True)
        self.windows: dict[str, float] = {}  # seconds faults can hit in: "sweep", "report"
        self.totals = {kind: {"injected": 0, "survived": 0, "violations": []} for kind in KINDS}
        self.episodes: list[dict] = []

    # ------------------------------------------------------------ commands
    def overrides(self, name: str, address: str | None = None) -> list[str]:
        extra = [f"ray.address={address}"] if address else []
        return [
            *SWEEP, *extra, f"experiment.seed={self.args.seed}", f"search.seed={self.args.seed}",
            f"data.cache_dir={self.workdir / 'cache'}", f"storage.path={self.storage(name)}",
            f"tracking.uri={self.server.uri}", f"tracking.experiment={name}",
            f"experiment.name={name}",
        ]  # fmt: skip

    def storage(self, name: str) -> Path:
        return self.workdir / "results" / name

    def command(self, module: str, name: str, address: str | None, *extra: str) -> list[str]:
        command = [sys.executable, "-m", module, "--config", "configs/quickstart.yaml"]
        for override in self.overrides(name, address):
            command += ["--set", override]
        return [*command, *extra]

    def start(self, command: list[str], log: Path) -> subprocess.Popen:
        with log.open("a") as out:
            return subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    # ------------------------------------------------------------ the fault-free run
    def baseline(self, with_report: bool) -> None:
        log = self.workdir / "baseline.log"
        sweep = self.start(self.command("search.run", "baseline", None), log)
        first = wait_for_line(log, STARTED, sweep)
        last = wait_for_line(log, LAST_ENDED.format(stage="sweep"), sweep)
        finish(sweep, log)
        self.windows["sweep"] = last - first
        if with_report:
            report_log = self.workdir / "baseline-report.log"
            report = self.start(self.report_command("baseline"), report_log)
            first = wait_for_line(report_log, CONFIRMING, report)
            last = wait_for_line(report_log, LAST_ENDED.format(stage="confirmation"), report)
            finish(report, report_log)
            self.windows["report"] = last - first
        client = MlflowClient(self.server.uri)
        self.reference = checks.read_sweep(client, "baseline")
        problems = checks.check_sweep(self.reference, self.reference, TRIALS, set())
        if problems:
            sys.exit(f"the fault-free sweep is already wrong: {problems[0]}")

    def report_command(self, name: str) -> list[str]:
        out = self.workdir / "reports" / name
        return self.command("search.report", name, None, *REPORT, "--out", str(out))

    # ------------------------------------------------------------ one episode
    def run_episode(self, index: int, episode: Episode) -> Outcome:
        name = f"ep{index:02d}-{episode.kind}"
        outcome = Outcome()
        cluster = start_cluster() if episode.kind == "node" else None
        try:
            address = cluster.address if cluster else None
            self.sweep(name, episode, outcome, cluster, address)
        finally:
            if cluster is not None:
                cluster.shutdown()
        if outcome.survived:
            self.check_sweep(name, outcome)
        if episode.kind == "report" and outcome.survived:
            self.report(name, episode, outcome)
        return outcome

    def sweep(self, name, episode, outcome, cluster, address) -> None:
        log = self.workdir / f"{name}.log"
        command = self.command("search.run", name, address)
        process = self.start(command, log)
        length = self.windows["sweep"]
        sweep_faults = episode.moments if episode.kind != "report" else []
        for number, moment in enumerate(sweep_faults):
            since = wait_for_line(log, STARTED, process)
            if not wait_until(since + moment * length, process):
                break  # the sweep ended first: this fault never hit
            outcome.reported_before |= checks.reported_trials(self.storage(name) / name)
            if not self.inject(episode, number, process, cluster):
                break
            outcome.injected += 1
            if episode.kind == "driver":
                process.wait()
                kill_group(process)
                with log.open("a") as out:
                    out.write(BENCH_LINE + "driver SIGKILLed; --resume ===\n")
                process = self.start([*command, "--resume"], log)
        code = finish(process, log, check=False)
        if code != 0:
            outcome.survived = False
            outcome.violations.append(f"{name}: the sweep exited {code}; see {log}")
            return
        outbox = list((self.storage(name) / name / "mlflow_outbox").glob("*.json"))
        if outbox or OUTAGE in log.read_text(errors="replace").split(BENCH_LINE)[-1]:
            with log.open("a") as out:  # the sweep ended during the outage: the documented fix
                out.write(BENCH_LINE + "MLflow missed the sweep's end; --resume ===\n")
            code = finish(self.start([*command, "--resume"], log), log, check=False)
            if code != 0:
                outcome.survived = False
                outcome.violations.append(f"{name}: --resume after the outage exited {code}")

    def inject(self, episode: Episode, number: int, process, cluster) -> bool:
        kind = episode.kind
        if kind == "driver":
            os.kill(process.pid, signal.SIGKILL)
        elif kind == "worker":
            workers = trial_workers(process)
            while not workers and process.poll() is None:  # between trials: the next one
                time.sleep(0.1)
                workers = trial_workers(process)
            if not workers:
                return False
            os.kill(self.rng.choice(workers), signal.SIGKILL)
        elif kind == "mlflow":
            self.server.kill()
            time.sleep(episode.pauses[number])
            self.server.start()
        elif kind == "node":
            nodes = sorted(cluster.worker_nodes, key=lambda node: node.node_id)
            cluster.remove_node(self.rng.choice(nodes), allow_graceful=False)
            time.sleep(episode.pauses[number])
            cluster.add_node(num_cpus=1)
        return True

    def check_sweep(self, name: str, outcome: Outcome) -> None:
        view = checks.read_sweep(MlflowClient(self.server.uri), name)
        experiment_dir = self.storage(name) / name
        found = checks.check_sweep(view, self.reference, TRIALS, outcome.reported_before)
        found += checks.check_study(view, experiment_dir / "optuna.db", name)
        found += checks.check_no_checkpoints(self.storage(name))
        outcome.violations += [f"{name}: {problem}" for problem in found]
        outcome.same_trials = set(view.by_key()) == set(self.reference.by_key())

    def report(self, name: str, episode: Episode, outcome: Outcome) -> None:
        log = self.workdir / f"{name}-report.log"
        command = self.report_command(name)
        process = self.start(command, log)
        since = wait_for_line(log, CONFIRMING, process)
        if wait_until(since + episode.moments[0] * self.windows["report"], process):
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kill_group(process)
            outcome.injected += 1
            with log.open("a") as out:
                out.write(BENCH_LINE + "report SIGKILLed; the same command again ===\n")
            process = self.start(command, log)
        code = finish(process, log, check=False)
        if code != 0:
            outcome.survived = False
            outcome.violations.append(f"{name}: the report exited {code}; see {log}")
            return
        found = checks.check_report(
            self.workdir / "reports" / name, self.workdir / "reports" / "baseline",
            outcome.same_trials,
        )  # fmt: skip
        found += checks.check_no_running(MlflowClient(self.server.uri), name)
        found += checks.check_no_checkpoints(self.storage(name))
        outcome.violations += [f"{name}: {problem}" for problem in found]

    # ------------------------------------------------------------ the whole run
    def run(self) -> dict:
        self.server.start()
        print(f"seed {self.args.seed}; work folder {self.workdir}", flush=True)
        kinds = self.kinds()
        self.baseline(with_report="report" in kinds)
        print(f"fault-free run done; fault windows (s): {self.windows}", flush=True)
        injected, index = 0, 0
        while injected < self.args.faults and index < 4 * self.args.faults:
            kind = kinds[index % len(kinds)]
            episode = schedule(self.rng, kind, self.args.quick)
            outcome = self.run_episode(index, episode)
            index += 1
            injected += outcome.injected
            self.record(episode, outcome)
        return self.write()

    def kinds(self) -> list[str]:
        if self.args.quick:  # the three that need no cluster and no report: a few minutes
            return self.rng.sample(["driver", "worker", "mlflow"], 3)
        order = list(KINDS)
        self.rng.shuffle(order)
        return order

    def record(self, episode: Episode, outcome: Outcome) -> None:
        total = self.totals[episode.kind]
        total["injected"] += outcome.injected
        total["survived"] += outcome.injected if outcome.survived else 0
        total["violations"] += outcome.violations
        self.episodes.append(
            {"kind": episode.kind, "moments": episode.moments, "pauses": episode.pauses,
             "injected": outcome.injected, "survived": outcome.survived,
             "violations": outcome.violations},
        )  # fmt: skip
        self.write()
        print(f"episode {len(self.episodes)}: {episode.kind}, {outcome.injected} injected, "
              f"{len(outcome.violations)} violation(s)", flush=True)  # fmt: skip

    def write(self) -> dict:
        result = {"seed": self.args.seed, "faults": self.args.faults, "quick": self.args.quick,
                  "kinds": self.totals, "episodes": self.episodes}  # fmt: skip
        self.args.out.mkdir(parents=True, exist_ok=True)
        (self.args.out / "chaos.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        return result


# ---------------------------------------------------------------- processes
def wait_for_line(log: Path, pattern: str, process: subprocess.Popen) -> float:
    """The moment the process last (re)started into ``log`` printed a line matching ``pattern``
    (polled; or ended: the bench's own lines separate the restarts)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if re.search(pattern, log.read_text(errors="replace").split(BENCH_LINE)[-1]):
            break
        time.sleep(0.2)
    return time.monotonic()


def wait_until(moment: float, process: subprocess.Popen) -> bool:
    """Sleep until ``moment``; False if the process ended first."""
    while time.monotonic() < moment:
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return process.poll() is None


def finish(process: subprocess.Popen, log: Path, check: bool = True) -> int:
    try:
        code = process.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = -9
    kill_group(process)
    if check and code != 0:
        sys.exit(f"{' '.join(process.args[:3])} exited {code}: {log}")
    return code


def kill_group(process: subprocess.Popen) -> None:
    """What the process left behind in its session (a killed driver's Ray, if any)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def trial_workers(driver: subprocess.Popen) -> list[int]:
    """Ray worker processes running a trial of the sweep (Ray titles them ``ray::ImplicitFunc``)."""
    try:
        below = psutil.Process(driver.pid).children(recursive=True)
    except psutil.Error:
        return []
    workers = []
    for process in below:
        try:
            if process.cmdline()[:1] and process.cmdline()[0].startswith("ray::ImplicitFunc"):
                workers.append(process.pid)
        except psutil.Error:
            continue
    return workers


def start_cluster():
    """A head that runs no trials and two 1-CPU worker nodes on 127.0.0.1, as the tests'."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster


def print_table(result: dict) -> None:
    print(f"\nseed {result['seed']}")
    print(f"{'fault':8} {'injected':>8} {'survived':>8} {'violations':>10}  first violation")
    for kind, total in result["kinds"].items():
        first = total["violations"][0] if total["violations"] else ""
        print(f"{kind:8} {total['injected']:>8} {total['survived']:>8} "
              f"{len(total['violations']):>10}  {first}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 faults, no cluster, no report")
    parser.add_argument("--faults", type=int, help="inject at least this many (default 30; 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("chaos-results"))
    args = parser.parse_args()
    args.faults = args.faults or (3 if args.quick else 30)
    if args.faults < 1:
        parser.error(f"--faults must be >= 1, but got {args.faults}")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir="/tmp"))  # short: Ray's socket paths
    # Ray's folder of our own: a ray.cluster_utils head writes its address to the machine's
    # /tmp/ray/ray_current_cluster otherwise, where any ray.init() on the machine would join it.
    os.environ["RAY_TMPDIR"] = str(workdir)
    bench = Bench(args, workdir)
    try:
        result = bench.run()
    finally:
        if bench.server.process is not None and bench.server.process.poll() is None:
            bench.server.kill()
    print_table(result)
    return 1 if any(total["violations"] for total in result["kinds"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
