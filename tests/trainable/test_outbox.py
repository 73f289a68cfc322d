"""The outbox file keeps a trial's MLflow records, typed, across processes and kills."""

import json

import pytest
from mlflow.tracking import MlflowClient

from bench.support import free_port, start_mlflow_server, stop_mlflow_server
from trainable.common.settings import TrackingSettings
from trainable.common.tracking import RunEnd
from trainable.common.tracking.client import NODE_TAG, TRIAL_ID_TAG
from trainable.tracking import open_trial_run
from trainable.tracking.outbox import (
    Epoch,
    OutboxState,
    RunSpec,
    Started,
    Steps,
    Text,
    load_outbox,
    save_outbox,
)


def test_every_record_type_survives_the_file_in_order(tmp_path):
    spec = RunSpec("sqlite:///m.db", "sweep", "parent-1", {TRIAL_ID_TAG: "t1"}, {"lr": "0.1"})
    pending = [
        Started({NODE_TAG: "n1"}),
        Text("criterion: focal\n", "trial_settings.yaml"),
        Steps([{"step": 50, "time_ms": 1_700_000_000_000, "metrics": {"train_loss_step": 2.5}}]),
        Epoch(1, 1_700_000_000_000, {"micro_f1": 31.5, "dev_micro_f1": 28.25}, "epoch,f1\n"),
        RunEnd.failed("InjectedFailure: boom"),
    ]
    state = OutboxState(spec, run_id="r1", pending=pending, kept=4, delayed=2)
    path = tmp_path / "mlflow_outbox" / "t1.json"
    save_outbox(path, state)
    assert load_outbox(path) == state
    assert not path.with_suffix(".tmp").exists()  # written aside, then moved into place


def test_a_record_of_unknown_type_is_an_error_not_skipped(tmp_path):
    path = tmp_path / "t1.json"
    save_outbox(path, OutboxState(RunSpec("u", "e", None, {}, {}), pending=[Started({})]))
    document = json.loads(path.read_text())
    document["pending"][0]["type"] = "Renamed"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="Renamed"):
        load_outbox(path)


def test_no_outbox_reads_as_none(tmp_path):
    assert load_outbox(tmp_path / "missing.json") is None


def test_step_points_join_into_records_one_log_batch_takes():
    def point(step: int) -> dict:
        return {"step": step, "time_ms": step, "metrics": {"train_loss_step": 1.0, "lr_step": 0.1}}

    first, second = Steps([point(50)]), Steps([point(100), point(150)])
    assert first.joined(second) == Steps([point(50), point(100), point(150)])
    full = Steps([point(step) for step in range(500)])  # 1000 metrics: MLflow's batch limit
    assert full.joined(first) is None


@pytest.mark.slow  # starts an MLflow server
def test_step_points_logged_while_mlflow_is_down_wait_in_one_record_then_arrive(tmp_path):
    """No server answers: the step points wait in the outbox, joined in one record, without a
    request each; once a server answers on that address, the next record sends them at their
    own steps."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    run = open_trial_run(
        TrackingSettings(uri=uri, experiment="outage"), "t1", "ce-t1", {"lr": 0.1}, {},
        experiment_dir=tmp_path / "results",
    )  # fmt: skip
    assert run.run_id is None and run.path.is_file()
    for step in (10, 20, 30):
        run.log_steps(step, {"train_loss_step": 3.0 - step / 100, "lr_step": step / 1000})
    kept = load_outbox(run.path)
    assert [type(record) for record in kept.pending] == [Started, Steps]
    assert [point["step"] for point in kept.pending[1].points] == [10, 20, 30]

    server, _ = start_mlflow_server(tmp_path, port)
    try:
        run.finish(RunEnd.finished())
        assert not run.path.exists()
        client = MlflowClient(uri)
        history = client.get_metric_history(run.run_id, "train_loss_step")
        assert [(m.step, m.value) for m in history] == [(10, 2.9), (20, 2.8), (30, 2.7)]
        assert client.get_run(run.run_id).info.status == "FINISHED"
    finally:
        stop_mlflow_server(server)
