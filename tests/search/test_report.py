"""The report on a real (small) sweep in a real MLflow store, its files, and its HTML in Chromium."""

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import REPO, sweep_command, write_klue_slice
from trainable.common.settings import TrialSettings
from trainable.common.yaml_config import load_config

EXPERIMENT = "report-test"
# A tiny encoder on 450 examples predicts no relation at all (micro-F1 0 for every trial, a
# tie); AUPRC still ranks the trials, so these tests select on it.
METRIC = "auprc"


@pytest.fixture(scope="module")
def swept(raw_train, klue_dir, tmp_path_factory):
    """A 5-trial sweep over ce/focal/label_smoothing on real KLUE slices, tracked in SQLite."""
    tmp_path = tmp_path_factory.mktemp("report")
    folder = write_klue_slice(
        tmp_path / "klue_slice", klue_dir, raw_train[:500], raw_train[500:620]
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(
        folder, tmp_path, store, EXPERIMENT,
        "search.num_samples=5", "search.space.num_train_epochs.int=[1, 2]",
        f"search.metric={METRIC}",
    )  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    overrides = [arg for arg in command[command.index("--set") :] if arg != "--set"]
    return tmp_path, store, overrides


def experiment_id(client: MlflowClient) -> str:
    return client.get_experiment_by_name(EXPERIMENT).experiment_id


def trial_runs(client: MlflowClient):
    children = client.search_runs([experiment_id(client)], "tags.`mlflow.parentRunId` != ''")
    return [run for run in children if run.data.tags.get("stage") != "confirmation"]


def confirmation_runs(client: MlflowClient):
    return client.search_runs([experiment_id(client)], "tags.`stage` = 'confirmation'")


def report_command(overrides, *extra):
    command = [sys.executable, "-m", "search.report", "--config", "configs/quickstart.yaml"]
    for override in overrides:
        command += ["--set", override]
    return [*command, *extra]


@pytest.mark.slow
def test_unconfirmed_report_names_the_argmax_winner_and_counts_trials(swept):
    tmp_path, store, overrides = swept
    out = tmp_path / "out"
    done = subprocess.run(
        report_command(overrides, "--out", str(out), "--confirm", "0"),
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert {p.name for p in out.iterdir()} >= {
        "report.md", "report.html", "trials.csv", "best_config.yaml", "plots",
    }  # fmt: skip

    # The winner, read independently: the child run with the highest score at any epoch.
    client = MlflowClient(store)
    children = trial_runs(client)
    best_by_run = {
        run.info.run_id: max(m.value for m in client.get_metric_history(run.info.run_id, METRIC))
        for run in children
    }
    winner_run = max(best_by_run, key=best_by_run.get)
    report = (out / "report.md").read_text()
    assert f"run {winner_run}" in report
    assert f"selection {METRIC} {best_by_run[winner_run]:.2f}" in report
    assert "single seed, not confirmed" in report

    trials = pd.read_csv(out / "trials.csv")
    criteria = pd.Series([run.data.params["criterion"] for run in children]).value_counts()
    for criterion, count in criteria.items():
        assert re.search(rf"\| {criterion} \| {count} \|", report), criterion
    assert len(trials) == len(children) == 5

    # The parent run holds the report.
    parent = client.search_runs([experiment_id(client)], "tags.`sweep.name` != ''")[0]
    assert "report/report.html" in {
        a.path for a in client.list_artifacts(parent.info.run_id, "report")
    }


@pytest.mark.slow
def test_confirmation_retrains_top_criteria_and_ce_on_paired_seeds_and_reuses_them(swept):
    tmp_path, store, overrides = swept
    client = MlflowClient(store)
    out = tmp_path / "out-confirm"
    done = subprocess.run(
        report_command(overrides, "--out", str(out), "--confirm", "2", "--seeds", "2"),
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    scores = pd.read_csv(out / "confirmation.csv")
    sweep_best = pd.read_csv(out / "trials.csv").sort_values(METRIC, ascending=False)
    top = list(dict.fromkeys(sweep_best["criterion"]))[:2]
    assert set(scores["criterion"]) == {*top, "ce"}  # the top two criteria plus the baseline
    assert all(sorted(g["seed"]) == [1, 2] for _, g in scores.groupby("criterion"))  # paired

    confirmations = confirmation_runs(client)
    assert len(confirmations) == len(scores) and len(trial_runs(client)) == 5  # not trials
    assert {run.info.status for run in confirmations} == {"FINISHED"}
    assert {(run.data.params["criterion"], run.data.tags["seed"]) for run in confirmations} == {
        (row.criterion, str(row.seed)) for row in scores.itertuples()
    }

    means = scores.groupby("criterion")[f"dev_{METRIC}"].mean()
    leader = means.idxmax()  # the confirmed leader by dev mean, not the sweep's argmax
    report = (out / "report.md").read_text()
    headline = report.splitlines()[2]
    assert leader in headline and "ce" in headline and "2 seeds" in headline
    assert "beats" in headline or "No criterion is significantly better" in headline
    leader_trial = sweep_best[sweep_best["criterion"] == leader].iloc[0]
    assert f"run {leader_trial['run_id']}" in report
    best = load_config(out / "best_config.yaml", TrialSettings)
    assert best.criterion.name == leader

    again = subprocess.run(
        report_command(overrides, "--out", str(out), "--confirm", "2", "--seeds", "3"),
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-4000:]
    criteria = len(set(scores["criterion"]))
    assert f"confirmation: training {criteria} run(s)" in again.stdout  # seeds 1, 2 re-used
    assert len(confirmation_runs(client)) == 3 * criteria
    assert len(pd.read_csv(out / "confirmation.csv")) == 3 * criteria


@pytest.mark.slow
def test_best_config_validates_and_runs(swept):
    tmp_path, _, overrides = swept
    out = tmp_path / "out-best"
    done = subprocess.run(report_command(overrides, "--out", str(out), "--confirm", "0"),
                          cwd=REPO, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    best = out / "best_config.yaml"
    settings = load_config(best, TrialSettings)
    assert settings.tracking.parent_run_id is None
    run = subprocess.run(
        [sys.executable, "-m", "search.trial", "--config", str(best),
         "--set", "train.num_train_epochs=1", "--set", f"storage.path={tmp_path / 'best-run'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "dev_micro_f1" in run.stdout


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=5000",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (.ci/run installs it; in CI its absence fails this test)",
)
def test_html_renders_in_headless_chromium_with_winner_and_every_plot(swept, tmp_path):
    sweep_tmp, _, overrides = swept
    out = sweep_tmp / "out-html"
    done = subprocess.run(report_command(overrides, "--out", str(out), "--confirm", "0"),
                          cwd=REPO, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Instrument a copy: after load, record every image's decoded size on <body>.
    page = tmp_path / "page.html"
    probe = (
        "<script>window.addEventListener('load', () => document.body.setAttribute("
        "'data-images', [...document.images].map(i => i.id + ':' + i.naturalWidth + 'x' + "
        "i.naturalHeight).join(',')));</script></body>"
    )
    page.write_text((out / "report.html").read_text().replace("</body>", probe))
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *profile, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert 'id="winner">Best single-seed trial (single seed, not confirmed):' in dom.stdout
    sizes = dict(
        item.split(":") for item in re.search(r'data-images="([^"]*)"', dom.stdout)[1].split(",")
    )
    expected = {"plot-score_vs_gamma", "plot-score_vs_smoothing", "plot-score_vs_epochs",
                "plot-learning_curves", "plot-per_class_f1"}  # fmt: skip
    assert set(sizes) == expected
    assert all(
        int(size.split("x")[0]) > 100 and int(size.split("x")[1]) > 100 for size in sizes.values()
    )

    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *profile, f"--screenshot={shot}",
                    "--window-size=1280,2400", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120)  # fmt: skip
    from PIL import Image

    with Image.open(shot) as image:
        extrema = image.convert("L").getextrema()
    assert extrema[0] < 100 < extrema[1]  # text and figures on a light page, not a blank frame
