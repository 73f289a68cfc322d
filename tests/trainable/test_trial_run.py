"""A trial's MLflow run across attempts: a restarted attempt continues the same run, and an
epoch an earlier attempt logged is never logged twice."""

from mlflow.tracking import MlflowClient

from trainable.common.settings import TrackingSettings
from trainable.common.tracking import RunEnd
from trainable.tracking import open_trial_run

PER_CLASS = {"selection": {"no_relation": 0.5}, "dev": {"no_relation": 0.4}}


def _epoch(run, epoch: int) -> None:
    run.log_epoch(epoch, {"epoch": epoch, "auprc": 10.0 + epoch}, PER_CLASS)


def test_an_attempt_restarted_before_the_last_logged_epoch_logs_each_epoch_once(tmp_path):
    """What the chaos bench found: the driver SIGKILLed after a trial logged epoch 1
    to MLflow but before Tune's saved state held that epoch's checkpoint. The resumed sweep
    restarts the trial from its first epoch; its run must hold epochs 1 and 2 once each."""
    settings = TrackingSettings(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="chaos")

    def attempt():
        return open_trial_run(
            settings, "t1", "ce-t1", {"lr": 0.1}, {}, experiment_dir=tmp_path / "results"
        )

    killed = attempt()
    _epoch(killed, 1)  # then SIGKILL: no end, no checkpoint Tune knows of
    resumed = attempt()
    for epoch in (1, 2):  # deterministic per seed: epoch 1 again, with the same scores
        _epoch(resumed, epoch)
    resumed.finish(RunEnd.finished())

    client = MlflowClient(settings.uri)
    assert resumed.run_id == killed.run_id
    for metric in ("epoch", "auprc"):
        assert [m.step for m in client.get_metric_history(resumed.run_id, metric)] == [1, 2]
    assert client.get_run(resumed.run_id).info.status == "FINISHED"
