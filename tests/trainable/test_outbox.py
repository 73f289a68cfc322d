"""The outbox file keeps a trial's MLflow records, typed, across processes and kills."""

import json

import pytest

from trainable.common.tracking.lifecycle import RunEnd
from trainable.common.tracking.outbox import (
    Epoch,
    OutboxState,
    RunSpec,
    Started,
    Text,
    load_outbox,
    save_outbox,
)


def test_every_record_type_survives_the_file_in_order(tmp_path):
    spec = RunSpec("sqlite:///m.db", "sweep", "parent-1", {"ray.trial_id": "t1"}, {"lr": "0.1"})
    pending = [
        Started({"ray.node_id": "n1"}),
        Text("criterion: focal\n", "trial_settings.yaml"),
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
