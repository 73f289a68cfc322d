"""The MLflow server lost mid-sweep, for real: the server process is stopped while trials train.

Trials keep training and keep their records in an outbox; what the server missed reaches it once
it answers again (sent by the trials, by the driver at the end, or by ``--resume``), and until
then the summary says what MLflow lacks. Ray's own results never depend on MLflow.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.support import start_mlflow_server, stop_mlflow_server, wait_until
from tests.helpers import REPO, sweep_command, sweep_runs, trial_folders

pytestmark = pytest.mark.slow
EPOCHS = 3


@dataclass
class Outage:
    """A running sweep of 2 trials × 3 epochs against its own MLflow server, which the test
    stops and restarts (same port and store)."""

    sweep: subprocess.Popen
    command: list[str]
    server: subprocess.Popen | None
    uri: str
    store: Path
    log: Path
    results: Path
    gate: Path  # trials pause after epoch 2 until this file exists

    def release(self) -> None:
        self.gate.touch()

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.uri)

    @property
    def outboxes(self) -> list[Path]:
        return list((self.results / "mlflow_outbox").glob("*.json"))

    def children(self) -> list:
        experiment = self.results.name
        if not self.client.get_experiment_by_name(experiment):
            return []
        return sweep_runs(self.client, experiment)[1]

    def stop_server_after_first_epoch(self) -> None:
        wait_until(lambda: any("micro_f1" in c.data.metrics for c in self.children()), self.sweep)
        stop_mlflow_server(self.server)
        self.server = None

    def restart_server(self) -> None:
        self.server, _ = start_mlflow_server(self.store, int(self.uri.rsplit(":", 1)[1]))

    def wait_for_sweep(self) -> str:
        assert self.sweep.wait(timeout=900) == 0, self.log.read_text()[-4000:]
        return self.log.read_text()


@pytest.fixture
def outage(raw_train, slice_dir, tmp_path):
    folder = slice_dir(raw_train[:500], raw_train[500:580])
    store = tmp_path / "server"
    store.mkdir()
    server, uri = start_mlflow_server(store)
    experiment = f"outage-{uuid.uuid4().hex[:6]}"
    gate = tmp_path / "go"
    command = sweep_command(
        folder, tmp_path, uri, experiment,
        "search.num_samples=2", "search.max_concurrent=1", "search.scheduler.type=none",
        f"search.space.num_train_epochs.int=[{EPOCHS}, {EPOCHS}]",
        faults=json.dumps({"hold_after_epoch": {"epoch": 2, "until": str(gate)}}),
    )  # fmt: skip
    log = tmp_path / "sweep.log"
    with log.open("w") as output:
        sweep = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    state = Outage(sweep, command, server, uri, store, log, tmp_path / "results" / experiment, gate)
    try:
        yield state
    finally:
        if sweep.poll() is None:
            sweep.kill()
        if state.server is not None:
            stop_mlflow_server(state.server)


def test_records_missed_while_the_server_was_down_reach_it_when_it_returns(outage):
    outage.stop_server_after_first_epoch()
    wait_until(lambda: outage.outboxes, outage.sweep)  # training went on, records kept
    outage.restart_server()  # answers when this returns; only then may the sweep go on
    outage.release()
    log = outage.wait_for_sweep()

    assert "mlflow: server unreachable" in log
    assert_mlflow_complete(outage)
    assert "has not received" not in (outage.results / "summary.md").read_text()


def test_records_the_server_never_got_are_in_the_summary_and_sent_on_resume(outage):
    outage.stop_server_after_first_epoch()
    outage.release()
    log = outage.wait_for_sweep()  # the server stays down to the end

    summary = (outage.results / "summary.md").read_text()
    assert "MLflow has not received" in summary and "`--resume` sends them" in summary
    assert summary in log  # printed too
    assert len(outage.outboxes) == 2
    for trial_dir in trial_folders(outage.results):  # Ray's results are whole regardless
        lines = (trial_dir / "result.json").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == list(range(1, EPOCHS + 1))

    outage.restart_server()
    done = subprocess.run(
        [*outage.command, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_mlflow_complete(outage)
    assert "has not received" not in done.stdout


def assert_mlflow_complete(outage) -> None:
    """Both trial runs FINISHED with every epoch's metrics and table, late records marked."""
    children = outage.children()
    assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
    for child in children:
        run_id = child.info.run_id
        steps = [m.step for m in outage.client.get_metric_history(run_id, "micro_f1")]
        assert steps == list(range(1, EPOCHS + 1))
        tables = {a.path for a in outage.client.list_artifacts(run_id, "per_class_f1")}
        assert len(tables) == EPOCHS
    assert any(int(c.data.tags.get("tracking.delayed_records", 0)) > 0 for c in children)
    assert not outage.outboxes
