"""What anyone with EDIT on a sweep's MLflow experiment can write (tags, run names, a trial's
``trial_settings.yaml``) cannot make the report write elsewhere, read planted files, send the
user's credentials to another host, or put live HTML or spreadsheet formulas in its files."""

import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric, RunStatus
from mlflow.tracking import MlflowClient

from search.markdown import cell, plain
from search.report.cli import main
from search.report.recorded import retrain_settings
from search.report.tables import spreadsheet_safe
from trainable.common.settings import TrialSettings
from trainable.common.yaml_config import ConfigError, dump_yaml, validate_config

PLANTED = {
    "data": {"dir": "/planted/data", "cache_dir": "/planted/cache", "max_length": 96},
    "model": {"name_or_path": "scratch"},
    "tracking": {"uri": "http://attacker.example:5000", "experiment": "theirs"},
    "storage": {"path": "/planted/storage"},
    "criterion": {"name": "focal", "gamma": 3.5},
    "train": {"learning_rate": 0.0021, "num_train_epochs": 2},
    "experiment": {"name": "tampered", "seed": 7},
}


def settings(data: dict) -> TrialSettings:
    return validate_config(data, TrialSettings, source="test")


def fake_sweep(uri: str, sweep_name: str, trial_settings: dict) -> str:
    """A finished sweep in a real MLflow store: a parent run and two scored trials, the best one
    logging ``trial_settings``; returns the parent run id."""
    client = MlflowClient(uri)
    experiment = client.create_experiment("sweeps")
    parent = client.create_run(experiment, tags={"sweep.name": sweep_name}).info.run_id
    for index, score in enumerate((30.0, 20.0)):
        tags = {"mlflow.parentRunId": parent, "ray.trial_id": f"t{index}"}
        child = client.create_run(experiment, tags=tags).info.run_id
        client.log_param(child, "criterion", "focal" if index == 0 else "ce")
        client.log_batch(child, metrics=[Metric("micro_f1", score, 0, 1)])
        client.log_text(child, dump_yaml(settings(trial_settings)), "trial_settings.yaml")
        client.set_terminated(child, status=RunStatus.to_string(RunStatus.FINISHED))
    return parent


def test_re_training_takes_only_criterion_and_training_values_from_mlflow(tmp_path):
    local = settings(
        {"data": {"dir": str(tmp_path), "max_length": 96}, "model": {"name_or_path": "scratch"}}
    )
    rebuilt = retrain_settings(settings(PLANTED), local)
    assert rebuilt.criterion.name == "focal" and rebuilt.criterion.params == {"gamma": 3.5}
    assert rebuilt.train.learning_rate == 0.0021 and rebuilt.experiment.seed == 7
    assert rebuilt.data == local.data and rebuilt.tracking == local.tracking
    assert rebuilt.storage == local.storage and rebuilt.experiment.name == local.experiment.name


def test_a_config_that_is_not_the_sweeps_is_refused(tmp_path):
    local = settings({"data": {"max_length": 128}, "model": {"name_or_path": "scratch"}})
    with pytest.raises(ConfigError, match=r"data\.max_length: sweep 96, config 128"):
        retrain_settings(settings(PLANTED), local)


def test_without_a_config_every_location_is_this_machines(tmp_path):
    rebuilt = retrain_settings(settings(PLANTED), None)
    assert rebuilt.data.dir is None and rebuilt.data.cache_dir is None
    assert rebuilt.data.max_length == 96  # what shapes the results still matches the sweep
    assert rebuilt.tracking.uri is None and str(rebuilt.storage.path).endswith("ray_results")
    folder_model = {**PLANTED, "model": {"name_or_path": str(tmp_path)}}
    with pytest.raises(ConfigError, match="the sweep's model is a local folder"):
        retrain_settings(settings(folder_model), None)


def test_best_config_keeps_no_planted_location_or_host(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    out = tmp_path / "report"
    assert (
        main(["--tracking-uri", uri, "--run-id", parent, "--confirm", "0", "--out", str(out)]) == 0
    )
    text = (out / "best_config.yaml").read_text()
    assert "planted" not in text and "attacker" not in text
    best = yaml.safe_load(text)
    assert best["criterion"] == {"name": "focal", "gamma": 3.5}
    assert best["tracking"]["uri"] == uri  # where the report was pointed, not the artifact's


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", "a'b"])
def test_a_sweep_name_tag_cannot_choose_the_report_folder(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, name, PLANTED)
    assert main(["--tracking-uri", uri, "--run-id", parent, "--confirm", "0"]) == 2
    error = capsys.readouterr().err
    assert "the sweep's name tag" in error and "use --out" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlflow.db", "mlruns"]


def test_report_files_carry_no_live_html_and_no_formula(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    client = MlflowClient(uri)
    trials = client.search_runs([client.get_experiment_by_name("sweeps").experiment_id])
    names = ["<img src=x onerror=alert(1)>", '=HYPERLINK("http://x")']
    for trial, name in zip([t for t in trials if t.info.run_id != parent], names, strict=True):
        client.set_tag(trial.info.run_id, "ray.trial_id", name)
    out = tmp_path / "report"
    assert (
        main(["--tracking-uri", uri, "--run-id", parent, "--confirm", "0", "--out", str(out)]) == 0
    )
    assert "<img src=x" not in (out / "report.md").read_text()
    assert "&lt;img src=x" in (out / "report.md").read_text()
    assert "<img src=x" not in (out / "report.html").read_text()
    trial_ids = pd.read_csv(out / "trials.csv", dtype=str)["trial_id"].tolist()
    assert """'=HYPERLINK("http://x")""" in trial_ids


def test_spreadsheet_formulas_are_quoted_and_numbers_kept():
    frame = pd.DataFrame({"text": ["=1+2", "+cmd", "-x", "@SUM(A1)", "ok"], "n": [-1.5] * 5})
    safe = spreadsheet_safe(frame)
    assert safe["text"].tolist() == ["'=1+2", "'+cmd", "'-x", "'@SUM(A1)", "ok"]
    assert safe["n"].tolist() == [-1.5] * 5 and frame["text"][0] == "=1+2"


def test_markdown_text_shows_tags_as_text():
    assert plain("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert plain("p < 0.05") == "p < 0.05"
    assert cell("a|b\nc") == "a\\|b c"


def test_the_report_refuses_a_tracking_uri_with_credentials(capsys):
    secret = "hunter2-planted-0xdeadbeef"
    code = main(["--tracking-uri", f"http://bob:{secret}@127.0.0.1:1", "--run-id", "r"])
    error = capsys.readouterr().err
    assert code == 2 and "--tracking-uri: embeds a user name or password" in error
    assert secret not in error
