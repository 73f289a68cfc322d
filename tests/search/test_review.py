"""Reviewing a real (small) sweep: its Optuna study in optuna-dashboard (``make dashboard``) read
through the dashboard's HTTP API, and its trials in the MLflow UI rendered by headless Chromium.

Both read the sweep the report tests read (``swept``, one per session)."""

import json
import re
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.support import free_port, start_mlflow_server, stop_mlflow_server, wait_until_answers
from tests.helpers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REPO,
    REVIEWED_EXPERIMENT,
    REVIEWED_METRIC,
    experiment_id,
    needs_chromium,
    trial_runs,
)
from trainable.common.tracking.client import TRIAL_ID_TAG


def make_dashboard(*variables: str) -> list[str]:
    """``make dashboard`` with the optuna-dashboard beside this interpreter, never reinstalling."""
    return ["make", "-s", "-o", "install", "dashboard", f"BIN={Path(sys.executable).parent}",
            *variables]  # fmt: skip


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_make_dashboard_names_what_is_missing(tmp_path):
    no_sweep = subprocess.run(make_dashboard(), cwd=REPO, capture_output=True, text=True)
    assert no_sweep.returncode != 0
    assert "make dashboard SWEEP=<experiment.name>" in no_sweep.stderr
    missing = tmp_path / "nope" / "optuna.db"
    no_study = subprocess.run(
        make_dashboard("SWEEP=nope", f"STORAGE={tmp_path}"),
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert no_study.returncode != 0
    assert f"no Optuna study at {missing}" in no_study.stderr


def test_make_mlflow_ui_refuses_a_taken_port_and_a_missing_store(tmp_path):
    """``mlflow ui`` itself prints an errno and exits 0 on a taken port, and creates a store
    that is not there; the documented ``make mlflow-ui`` says either in one line."""
    store = tmp_path / "mlflow.db"
    make = ["make", "-s", "-o", "install", "mlflow-ui", f"BIN={Path(sys.executable).parent}"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        missing = subprocess.run(
            [*make, f"MLFLOW_STORE={store}", f"MLFLOW_PORT={port}"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        store.touch()
        busy = subprocess.run(
            [*make, f"MLFLOW_STORE={store}", f"MLFLOW_PORT={port}"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert missing.returncode != 0 and f"no MLflow store at {store}" in missing.stderr
    assert store.stat().st_size == 0  # nothing was created in its place
    assert busy.returncode != 0 and f"port {port} is taken" in busy.stderr


@pytest.mark.slow
def test_optuna_dashboard_serves_every_trial_of_the_sweeps_study(swept):
    sweep_tmp, store, _ = swept
    client = MlflowClient(store)
    runs = trial_runs(client)
    port, log = free_port(), sweep_tmp / "dashboard.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            make_dashboard(f"SWEEP={REVIEWED_EXPERIMENT}", f"STORAGE={sweep_tmp / 'results'}",
                           f"DASHBOARD_PORT={port}"),
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{base}/api/studies", server, log)
        studies = get_json(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == [REVIEWED_EXPERIMENT]
        study_id = studies[0]["study_id"]
        study = get_json(f"{base}/api/studies/{study_id}")
        assert study["name"] == REVIEWED_EXPERIMENT and study["directions"] == ["maximize"]
        assert study["has_intermediate_values"]
        trials = study["trials"]
        assert len(trials) == len(runs) == 5  # the sweep's search.num_samples

        # Each dashboard trial against its MLflow run (matched on the sampled learning rate).
        for run in runs:
            lr = float(run.data.params["learning_rate"])
            (trial,) = [
                t for t in trials for p in t["params"]
                if p["name"] == "learning_rate" and float(p["param_external_value"]) == lr
            ]  # fmt: skip
            cut = run.data.tags.get("stopped_early") == "true"
            assert trial["state"] == ("Pruned" if cut else "Complete")
            history = {
                m.step: m.value for m in client.get_metric_history(run.info.run_id, REVIEWED_METRIC)
            }
            assert {v["step"]: v["value"] for v in trial["intermediate_values"]} == history
            if not cut:  # the best epoch's selection score
                assert trial["values"] == [max(history.values())]
        with urllib.request.urlopen(f"{base}/dashboard/studies/{study_id}", timeout=30) as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    finally:
        stop_mlflow_server(server)  # the dashboard's whole process group (make, its workers)


# The runs view nests child runs under a collapsed parent when it sorts by start time (its
# default) without a filter; sorted by run name it lists every run flat.
RUNS_VIEW_QUERY = urllib.parse.urlencode(
    {"orderByKey": "tags.`mlflow.runName`", "orderByAsc": "true"}, quote_via=urllib.parse.quote
)
# Virtual time stops while requests are in flight: the SPA's chunks and its runs/search.
BROWSER = [flag for flag in CHROMIUM_FLAGS if not flag.startswith("--virtual-time-budget")]
BROWSER.append("--virtual-time-budget=15000")


@pytest.mark.slow
@needs_chromium
def test_mlflow_runs_view_shows_every_trial_by_its_descriptive_name(swept, tmp_path):
    sweep_tmp, store, _ = swept
    assert store == f"sqlite:///{sweep_tmp / 'mlflow.db'}"  # the store the server below serves
    client = MlflowClient(store)
    names = []
    for run in trial_runs(client):
        criterion, trial_id = run.data.params["criterion"], run.data.tags[TRIAL_ID_TAG]
        assert re.fullmatch(
            rf"{criterion}(-[a-z_]+[-+.e\d]+)*-lr\d\.\de[-+]\d\d-ep\d+-{trial_id}",
            run.info.run_name,
        ), run.info.run_name
        names.append(run.info.run_name)
    assert len(names) == 5

    server, uri = start_mlflow_server(sweep_tmp)
    try:
        url = f"{uri}/#/experiments/{experiment_id(client)}/runs?{RUNS_VIEW_QUERY}"
        profile = f"--user-data-dir={tmp_path / 'profile'}"
        for _ in range(3):  # a slow server can leave the runs out of one load
            dom = subprocess.run([CHROMIUM, *BROWSER, profile, "--dump-dom", url],
                                 capture_output=True, text=True, timeout=300)  # fmt: skip
            if all(name in dom.stdout for name in names):
                break
        assert [name for name in names if name not in dom.stdout] == [], dom.stdout[-3000:]

        shot = tmp_path / "runs.png"
        subprocess.run([CHROMIUM, *BROWSER, profile, f"--screenshot={shot}",
                        "--window-size=1280,900", url], capture_output=True, timeout=300)  # fmt: skip
    finally:
        stop_mlflow_server(server)
    from PIL import Image, ImageStat

    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50  # None: more than 65,536 colours
        assert ImageStat.Stat(rgb.convert("L")).stddev[0] > 10  # a page, not a blank frame
