"""The report on a real (small) sweep in a real MLflow store, its files, and its HTML in Chromium."""

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REPO,
    REVIEWED_EXPERIMENT,
    REVIEWED_METRIC,
    confirmation_runs,
    needs_chromium,
    parent_run,
    report_command,
    trial_runs,
)
from trainable.common.settings import TrialSettings
from trainable.common.yaml_config import load_config


@pytest.fixture(scope="module")
def unconfirmed(swept):
    """``search.report --confirm 0`` on the swept sweep, run once: the tests of its files read
    the same output (a report without confirmation does not depend on what ran after it)."""
    tmp_path, _, overrides = swept
    out = tmp_path / "out"
    done = subprocess.run(
        report_command(overrides, "--out", str(out), "--confirm", "0"),
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.mark.slow
def test_unconfirmed_report_names_the_argmax_winner_and_counts_trials(swept, unconfirmed):
    _, store, _ = swept
    out = unconfirmed
    assert {p.name for p in out.iterdir()} >= {
        "report.md", "report.html", "trials.csv", "best_config.yaml", "plots",
    }  # fmt: skip

    # The winner, read independently: the child run with the highest score at any epoch.
    client = MlflowClient(store)
    children = trial_runs(client)
    best_by_run = {
        run.info.run_id: max(
            m.value for m in client.get_metric_history(run.info.run_id, REVIEWED_METRIC)
        )
        for run in children
    }
    winner_run = max(best_by_run, key=best_by_run.get)
    report = (out / "report.md").read_text()
    assert f"run {winner_run}" in report
    assert f"selection {REVIEWED_METRIC} {best_by_run[winner_run]:.2f}" in report
    assert "single seed, not confirmed" in report

    trials = pd.read_csv(out / "trials.csv")
    criteria = pd.Series([run.data.params["criterion"] for run in children]).value_counts()
    for criterion, count in criteria.items():
        assert re.search(rf"\| {criterion} \| {count} \|", report), criterion
    assert len(trials) == len(children) == 5
    # Every searched name is a column, whole numbers stay whole, and the values are the runs'.
    searched = parent_run(client).data.tags["sweep.searched"].split(",")
    assert set(searched) - {"criterion"} <= set(trials.columns) and "num_train_epochs" in searched
    assert trials["num_train_epochs"].dtype.kind == "i"
    by_run = {run.info.run_id: run.data.params for run in children}
    for row in trials.itertuples():
        assert row.num_train_epochs == int(by_run[row.run_id]["num_train_epochs"])
        assert row.learning_rate == pytest.approx(float(by_run[row.run_id]["learning_rate"]))
    # What mattered: importance over all trials, each searched parameter a row.
    importance = report.split("## What mattered: parameter importance")[1].split("##")[0]
    assert "| parameter | all trials |" in importance
    assert all(f"| {name} |" in importance for name in ("criterion", "learning_rate"))

    # The parent run holds the report.
    parent = parent_run(client)
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
    sweep_best = pd.read_csv(out / "trials.csv").sort_values(REVIEWED_METRIC, ascending=False)
    top = list(dict.fromkeys(sweep_best["criterion"]))[:2]
    assert set(scores["criterion"]) == {*top, "ce"}  # the top two criteria plus the baseline
    assert all(sorted(g["seed"]) == [1, 2] for _, g in scores.groupby("criterion"))  # paired

    confirmations = confirmation_runs(client)
    assert len(confirmations) == len(scores) and len(trial_runs(client)) == 5  # not trials
    assert {run.info.status for run in confirmations} == {"FINISHED"}
    assert {(run.data.params["criterion"], run.data.tags["seed"]) for run in confirmations} == {
        (row.criterion, str(row.seed)) for row in scores.itertuples()
    }

    means = scores.groupby("criterion")[f"dev_{REVIEWED_METRIC}"].mean()
    leader = means.idxmax()  # the confirmed leader by dev mean, not the sweep's argmax
    report = (out / "report.md").read_text()
    headline = report.splitlines()[2].strip("*")
    assert headline.startswith(("Use ", "Undecided after 2 seeds")), headline
    assert leader in headline and "ce" in headline
    confirmed = scores["criterion"].nunique()  # the top two and ce: two or three criteria
    assert report.count("2 paired seeds): ") == confirmed * (confirmed - 1) // 2  # every pair
    # The recommended criterion (the winner, the baseline within the margin, else the best mean
    # left) is the report's best setup and best_config.yaml.
    best = load_config(out / "best_config.yaml", TrialSettings)
    recommended = best.criterion.name
    assert recommended in {leader, "ce"}
    if not headline.startswith("Use ce:"):
        assert recommended == leader
    recommended_trial = sweep_best[sweep_best["criterion"] == recommended].iloc[0]
    assert f"run {recommended_trial['run_id']}" in report

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
def test_a_report_from_tracking_flags_alone_confirms_in_the_working_directory(swept, tmp_path):
    """No --config: the confirmation runs keep their results in ./ray_results (an absolute path
    for Ray, which refuses a relative one), on the data at KLUE_RE_DIR, and log to the store
    the relative ``sqlite:///mlflow.db`` names here, not to one in each trial's folder (Tune
    runs trials in their own working directory: they trained, found no parent run and kept
    everything in outboxes)."""
    sweep_tmp, _, _ = swept
    store = tmp_path / "mlflow.db"  # a copy: its confirmation runs are not the other tests'
    shutil.copy(sweep_tmp / "mlflow.db", store)
    client = MlflowClient(f"sqlite:///{store}")
    for run in confirmation_runs(client):  # whatever another test confirmed: train anew here
        client.delete_run(run.info.run_id)
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "KLUE_RE_DIR": str(sweep_tmp / "klue_slice"),
        "KLUE_LOSS_SWEEP_CACHE": str(sweep_tmp / "cache"),
    }  # fmt: skip
    parent = parent_run(client).info.run_id
    for sweep, seeds in ((["--experiment", REVIEWED_EXPERIMENT], 2), (["--run-id", parent], 3)):
        done = subprocess.run(
            [sys.executable, "-m", "search.report", "--tracking-uri", "sqlite:///mlflow.db",
             *sweep, "--confirm", "1", "--seeds", str(seeds), "--out", "out"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        assert "Traceback" not in done.stderr
        assert "confirmation: training" in done.stdout  # each form trains its new seed(s)
        scores = pd.read_csv(tmp_path / "out" / "confirmation.csv")
        assert set(scores["seed"]) == set(range(1, seeds + 1))
        written, model = done.stdout.strip().splitlines()[-2:]
        assert "confirmation.csv" in written and model.startswith("model: ")
    assert (tmp_path / "ray_results").is_dir()


@pytest.mark.slow
def test_best_config_validates_and_runs(swept, unconfirmed):
    tmp_path, _, _ = swept
    best = unconfirmed / "best_config.yaml"
    settings = load_config(best, TrialSettings)
    assert settings.tracking.parent_run_id is None
    run = subprocess.run(
        [sys.executable, "-m", "search.trial", "--config", str(best),
         "--set", "train.num_train_epochs=1", "--set", f"storage.path={tmp_path / 'best-run'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "dev_micro_f1" in run.stdout


@pytest.mark.slow
@needs_chromium
def test_html_renders_in_headless_chromium_with_winner_and_every_plot(unconfirmed, tmp_path):
    out = unconfirmed
    # Instrument a copy: after load, record every image's decoded size on <body>.
    page = tmp_path / "page.html"
    probe = (
        "<script>window.addEventListener('load', () => { document.body.setAttribute("
        "'data-images', [...document.images].map(i => i.id + ':' + i.naturalWidth + 'x' + "
        "i.naturalHeight).join(',')); document.body.setAttribute('data-scroll-width', "
        "document.documentElement.scrollWidth); });</script></body>"
    )
    page.write_text((out / "report.html").read_text().replace("</body>", probe))
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *profile, "--window-size=1280,900",
                          "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert 'id="winner">Best single-seed trial (single seed, not confirmed):' in dom.stdout
    # Every table fits a 1280 px wide window: the page never scrolls sideways.
    assert int(re.search(r'data-scroll-width="(\d+)"', dom.stdout)[1]) <= 1280
    assert "What mattered: parameter importance" in dom.stdout
    sizes = dict(
        item.split(":") for item in re.search(r'data-images="([^"]*)"', dom.stdout)[1].split(",")
    )
    # A parameter gets its plot once the sweep tried more than one value of it; which ones TPE
    # varied in five trials is its choice, so read it from the report's own trials table.
    trials = pd.read_csv(out / "trials.csv")
    varied = {p for p in ("gamma", "smoothing", "learning_rate") if trials[p].nunique() > 1}
    assert "learning_rate" in varied  # sampled in every trial
    expected = {"plot-parallel_coordinates", "plot-score_vs_epochs", "plot-learning_curves",
                "plot-per_class_f1", *(f"plot-score_vs_{p}" for p in varied)}  # fmt: skip
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
