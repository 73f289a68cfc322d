"""The sweep's end product: the report registers the recommended criterion's confirmed model,
``search.predict`` and ``mlflow models serve`` answer with it, and no checkpoint is left.

One tiny sweep (ce and focal, one epoch) and one confirmed report (top 1 plus ce, 2 seeds) on
real KLUE slices in a real SQLite store, shared by the tests of this module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench.support import free_port, wait_until_answers
from tests.helpers import DEV, REPO, report_command, sweep_command, write_klue_slice
from trainable.common.tracking.client import PARENT_TAG

EXPERIMENT = "champion-test"
MODEL_LINE_START = "model: registered "


@pytest.fixture(scope="module")
def champion(raw_train, klue_dir, tmp_path_factory):
    """Sweep, then report with confirmation; yields (tmp folder, store, report stdout, the
    report's command)."""
    tmp_path = tmp_path_factory.mktemp("champion")
    folder = write_klue_slice(tmp_path / "klue", klue_dir, raw_train[:400], raw_train[400:520])
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = sweep_command(
        folder, tmp_path, store, EXPERIMENT, "search.num_samples=2",
        "search.space.num_train_epochs.int=[1, 2]", "search.warm_start=[{criterion: ce}, "
        "{criterion: focal, gamma: 2.0}]", "search.scheduler.type=none",
    )  # fmt: skip
    done = subprocess.run(sweep, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    overrides = [arg for arg in sweep[sweep.index("--set") :] if arg != "--set"]
    report = report_command(overrides, "--out", str(tmp_path / "report"), "--confirm", "1")
    report += ["--seeds", "2"]
    done = subprocess.run(report, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return tmp_path, store, done.stdout, report


def registered(store: str):
    client = MlflowClient(store, store)
    version = client.get_model_version_by_alias(EXPERIMENT, "champion")
    return client, version


@pytest.mark.slow
def test_the_report_registers_the_recommended_model_and_leaves_no_checkpoint(champion):
    tmp_path, store, stdout, _ = champion
    last = stdout.strip().splitlines()[-1]
    assert last.startswith(MODEL_LINE_START) and "version 1 as @champion" in last, last
    client, version = registered(store)
    tags = version.tags
    run = client.get_run(tags["confirmation.run_id"])
    assert version.run_id == run.info.run_id and run.data.tags["stage"] == "confirmation"
    assert tags["criterion"] == run.data.params["criterion"]
    assert tags["sweep.parent_run_id"] == run.data.tags[PARENT_TAG]
    assert {"verdict", "significant", "confirmed.dev_micro_f1", "data.train_sha256"} <= set(tags)
    confirmation = pd.read_csv(tmp_path / "report" / "confirmation.csv")
    mine = confirmation[confirmation["criterion"] == tags["criterion"]]
    best = mine.sort_values(["micro_f1", "seed"], ascending=[False, True]).iloc[0]
    assert (int(tags["seed"]), int(tags["epoch"])) == (best.seed, best.epoch)  # on selection

    results = tmp_path / "results"
    assert not list(results.rglob("checkpoint_*")), "a checkpoint outlived its trial"
    assert not (results / "confirmed-models").exists(), "kept models outlived the decision"


@pytest.mark.slow
def test_predictions_on_the_dev_split_give_the_logged_dev_score(champion):
    tmp_path, store, _, _ = champion
    client, version = registered(store)
    out = tmp_path / "predictions.csv"
    done = predict(store, tmp_path / "klue" / DEV, out)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = float(done.stdout.split("micro_f1 ")[1].split()[0])
    history = client.get_metric_history(version.run_id, "dev_micro_f1")
    logged = {m.step: m.value for m in history}[int(version.tags["epoch"])]
    assert abs(printed - round(logged, 2)) < 1e-9  # as printed, 2 decimals

    from trainable.metrics import klue_re_metrics
    from trainable.records import load_label_names

    labels = load_label_names(tmp_path / "klue" / "relation_list.json")
    dev = json.loads((tmp_path / "klue" / DEV).read_text(encoding="utf-8"))
    frame = pd.read_csv(out)
    assert frame["id"].tolist() == [record["guid"] for record in dev]
    probs = [json.loads(p) for p in frame["probs"]]
    assert all(len(p) == 30 and abs(sum(p) - 1) < 1e-5 for p in probs)
    import numpy as np

    gold = [labels.index(record["label"]) for record in dev]
    scores = klue_re_metrics(np.log(np.clip(probs, 1e-300, None)), gold, labels)
    assert abs(scores["micro_f1"] - logged) < 1e-6
    assert frame["pred_label"].tolist() == [labels[int(np.argmax(p))] for p in probs]


@pytest.mark.slow
def test_mlflow_models_serve_answers_as_search_predict(champion):
    tmp_path, store, _, _ = champion
    out = tmp_path / "served-check.csv"
    assert predict(store, tmp_path / "klue" / DEV, out).returncode == 0
    expected = pd.read_csv(out).head(20)
    records = json.loads((tmp_path / "klue" / DEV).read_text(encoding="utf-8"))[:20]
    port = free_port()
    log = tmp_path / "serve.log"
    env = {  # an activated .venv: mlflow starts the venv's uvicorn by name
        **os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m",
             f"models:/{EXPERIMENT}@champion", "--env-manager", "local", "-h", "127.0.0.1",
             "-p", str(port)],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/ping", server, log, timeout=300)
        columns = ["sentence", "subject_entity", "object_entity"]
        body = {"dataframe_records": [{c: r[c] for c in columns} for r in records]}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=120) as response:
            served = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    assert served["pred_label"].tolist() == expected["pred_label"].tolist()
    labels = [c for c in served.columns if c != "pred_label"]
    for row, probs in zip(served[labels].to_numpy(), expected["probs"], strict=True):
        assert max(abs(a - b) for a, b in zip(row, json.loads(probs), strict=True)) < 1e-6


@pytest.mark.slow
def test_bad_input_and_unknown_models_get_one_line(champion):
    tmp_path, store, _, _ = champion
    records = json.loads((tmp_path / "klue" / DEV).read_text(encoding="utf-8"))[:3]
    records[1]["subject_entity"]["end_idx"] += 40  # outside its sentence
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    cases = [
        (predict(store, bad, tmp_path / "x.csv"), [str(bad), records[1]["guid"], "subject"]),
        (predict(store, tmp_path / "klue" / DEV, tmp_path / "x.csv", alias="nope"), ["nope"]),
        (predict(store, tmp_path / "klue" / DEV, tmp_path / "x.csv", name="nobody"), ["nobody"]),
        (
            predict(
                f"sqlite:///{tmp_path / 'typo.db'}", tmp_path / "klue" / DEV, tmp_path / "x.csv"
            ),
            ["typo.db"],
        ),
    ]
    for done, words in cases:
        assert done.returncode == 2, done.stdout + done.stderr
        (line,) = done.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith("error:") and all(w in line for w in words), line
    assert not (tmp_path / "x.csv").exists()


def predict(store: str, input_file: Path, out: Path, alias="champion", name=EXPERIMENT):
    command = [
        sys.executable, "-m", "search.predict", "--model", f"models:/{name}@{alias}",
        "--input", str(input_file), "--out", str(out), "--tracking-uri", store,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_same_report_again_says_its_model_is_registered_already(champion):
    """A second run of the report re-uses every confirmation seed, so no model is on disk to
    register: it said "not registered ... re-run with a new experiment.name" although the
    model was @champion. Now it points @champion at that version again and says so."""
    _, store, _, report = champion
    done = subprocess.run(report, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    client, version = registered(store)
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith(f"model: {EXPERIMENT} version {version.version}, registered by an")
    assert line.endswith(f"models:/{EXPERIMENT}@champion")
    assert len(client.search_model_versions(f"name = '{EXPERIMENT}'")) == 1
