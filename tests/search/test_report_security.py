"""What anyone with EDIT on a sweep's MLflow experiment can write (tags, run names, a trial's
``trial_settings.yaml``) cannot make the report write elsewhere, read planted files, send the
user's credentials to another host, or put live HTML or spreadsheet formulas in its files."""

import re

import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric, RunStatus
from mlflow.tracking import MlflowClient

from search.markdown import cell, plain
from search.report import plots
from search.report.cli import main
from search.report.recorded import retrain_settings
from search.report.render import ReportContent, write_markdown
from search.report.tables import spreadsheet_safe
from search.tracking import SweepRecord, TrialRecord
from trainable.common.settings import TrialSettings
from trainable.common.tracking.client import PARENT_TAG, SWEEP_TAG, TRIAL_ID_TAG
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
    parent = client.create_run(experiment, tags={SWEEP_TAG: sweep_name}).info.run_id
    for index, score in enumerate((30.0, 20.0)):
        tags = {PARENT_TAG: parent, TRIAL_ID_TAG: f"t{index}"}
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
    assert "the sweep's name tag" in error and f"MLflow run {parent}" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlflow.db", "mlruns"]


def test_report_files_carry_no_live_html_and_no_formula(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    client = MlflowClient(uri)
    trials = client.search_runs([client.get_experiment_by_name("sweeps").experiment_id])
    names = ["<img src=x onerror=alert(1)>", '=HYPERLINK("http://x")']
    for trial, name in zip([t for t in trials if t.info.run_id != parent], names, strict=True):
        client.set_tag(trial.info.run_id, TRIAL_ID_TAG, name)
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


# ---------------------------------------------------------------- second pass: MLflow is input
def planted_trial(uri: str, parent: str, text: str) -> None:
    """Overwrite the best trial's ``trial_settings.yaml`` with ``text`` (as an EDIT user can)."""
    client = MlflowClient(uri)
    experiment = client.get_run(parent).info.experiment_id
    best = client.search_runs([experiment], "tags.`ray.trial_id` = 't0'")[0].info.run_id
    client.log_text(best, text, "trial_settings.yaml")


def report(uri: str, parent: str, out, *extra: str) -> int:
    return main(["--tracking-uri", uri, "--run-id", parent, "--confirm", "0", "--out", str(out),
                 *extra])  # fmt: skip


def test_a_figure_caption_cannot_open_a_link_or_a_tag(tmp_path):
    planted = "ce](x) <img src=x onerror=alert(1)> [y"
    content = ReportContent(
        "t", "w", {}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {},
        {"per_class_f1": (f"per-relation dev F1: {planted}", b"png")},
    )  # fmt: skip
    text = write_markdown(content, tmp_path).read_text()
    assert "<img" not in text and "ce\\](x) &lt;img src=x" in text
    assert not re.search(r"(?<!\\)\]\(x\)", text)  # no link target but the figure's


def test_an_unknown_criterion_from_mlflow_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("sweeps").experiment_id
    tags = {PARENT_TAG: parent, TRIAL_ID_TAG: "t2"}
    child = client.create_run(experiment, tags=tags).info.run_id
    client.log_param(child, "criterion", "ce](x) <img src=x onerror=alert(1)>")
    assert report(uri, parent, tmp_path / "report") == 2
    error = capsys.readouterr().err
    assert f"MLflow run {child}" in error and "unknown criterion" in error


@pytest.mark.parametrize(
    "searched", ['criterion,=HYPERLINK("http://x"),gamma', "criterion,run_id", "criterion,status"]
)
def test_the_searched_tag_cannot_name_or_overwrite_a_column(
    tmp_path, monkeypatch, capsys, searched
):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    MlflowClient(uri).set_tag(parent, "sweep.searched", searched)
    assert report(uri, parent, tmp_path / "report") == 2
    error = capsys.readouterr().err
    assert f"MLflow run {parent}" in error and "sweep.searched" in error
    assert not (tmp_path / "report" / "trials.csv").exists()


def test_csv_headers_are_quoted_like_cells():
    safe = spreadsheet_safe(pd.DataFrame({"=cmd()": ["x"], "ok": [1]}))
    assert list(safe.columns) == ["'=cmd()", "ok"]


@pytest.mark.parametrize(
    "name", ["${HF_HUB_PAT}", "nightly\ntracking: {uri: http://x}", "../../escaped", "/tmp/abs"]
)
def test_a_sweep_name_tag_is_refused_with_out_too(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_PAT", "hf_planted-secret-value")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, name, PLANTED)
    assert report(uri, parent, tmp_path / "report") == 2
    error = capsys.readouterr().err
    assert "the sweep's name tag" in error and f"MLflow run {parent}" in error
    assert not (tmp_path / "report" / "best_config.yaml").exists()


def test_no_string_from_mlflow_is_expanded_when_best_config_is_loaded(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    planted = yaml.safe_load(dump_yaml(settings(PLANTED)))
    planted["model"]["name_or_path"] = "org/${HOME}"
    planted_trial(uri, parent, yaml.safe_dump(planted))
    assert report(uri, parent, tmp_path / "report") == 2
    assert "would be expanded" in capsys.readouterr().err
    assert not (tmp_path / "report" / "best_config.yaml").exists()


def test_without_a_config_the_report_trains_no_model_mlflow_names():
    hub = {**PLANTED, "model": {"name_or_path": "attacker/remote-code-model"}}
    with pytest.raises(ConfigError, match="the report trains only a model its --config names"):
        retrain_settings(settings(hub), None, trains=True)
    assert retrain_settings(settings(hub), None).model.name_or_path == hub["model"]["name_or_path"]
    assert retrain_settings(settings(PLANTED), None, trains=True).model.is_scratch


def test_training_values_from_mlflow_are_bounded(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = fake_sweep(uri, "nightly", PLANTED)
    planted = yaml.safe_load(dump_yaml(settings(PLANTED)))
    planted["train"].update(dataloader_workers=100000, batch_size=10**9)
    planted_trial(uri, parent, yaml.safe_dump(planted))
    assert report(uri, parent, tmp_path / "report") == 2
    error = capsys.readouterr().err
    assert "MLflow run" in error and "train.dataloader_workers" in error
    assert "train.batch_size" in error


def test_mathtext_in_a_trial_id_is_drawn_as_text():
    trials = pd.DataFrame(
        {"run_id": ["r"], "trial_id": ["t$\\foo{$"], "criterion": ["ce"], "micro_f1": [1.0]}
    )
    sweep = SweepRecord("p", "s", {}, 0, 0, [TrialRecord("r", "FINISHED", {}, {}, HISTORY, 0, 0)],
                        [])  # fmt: skip
    assert plots.learning_curves(sweep, trials, "micro_f1").startswith(b"\x89PNG")
    by_label = {"$\\foo{$": pd.Series([0.5], index=["x$\\bar{$"])}
    assert plots.per_class_f1(by_label).startswith(b"\x89PNG")


HISTORY = {"micro_f1": {1: 1.0, 2: 2.0}, "dev_micro_f1": {1: 1.0, 2: 1.5}}
