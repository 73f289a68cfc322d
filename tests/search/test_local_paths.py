"""Nothing local reaches MLflow: every reader of an experiment sees its params, tags, artifacts
and dataset sources, so a quickstart-sized sweep's must name no folder of this machine (home,
data, cache, results) by its absolute path."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import REPO, sweep_command, sweep_runs

pytestmark = pytest.mark.slow


def artifact_texts(client: MlflowClient, run_id: str, into: Path, folder: str | None = None):
    """(path, text) of every artifact of the run, folders walked."""
    for item in client.list_artifacts(run_id, folder):
        if item.is_dir:
            yield from artifact_texts(client, run_id, into, item.path)
        else:
            local = Path(client.download_artifacts(run_id, item.path, str(into)))
            yield item.path, local.read_text(encoding="utf-8", errors="replace")


def test_a_sweep_logs_no_local_absolute_path(raw_train, slice_dir, tmp_path, mlflow_server):
    home = tmp_path / "home"
    home.mkdir()
    folder = slice_dir(raw_train[:300], raw_train[300:360])
    experiment = f"paths-{uuid.uuid4().hex[:6]}"
    command = sweep_command(folder, tmp_path, mlflow_server, experiment, "search.num_samples=2")
    environ = {**os.environ, "HOME": str(home)}
    done = subprocess.run(
        command, cwd=REPO, env=environ, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]

    client = MlflowClient(mlflow_server)
    parents, children = sweep_runs(client, experiment)
    assert len(parents) == 1 and len(children) == 2
    seen: list[tuple[str, str]] = []
    for run in [*parents, *children]:
        run = client.get_run(run.info.run_id)
        where = run.info.run_id
        seen += [(f"{where} run name", run.info.run_name or "")]
        seen += [(f"{where} param {k}", v) for k, v in run.data.params.items()]
        seen += [(f"{where} tag {k}", v) for k, v in run.data.tags.items()]
        for entry in run.inputs.dataset_inputs:
            dataset = entry.dataset
            seen += [(f"{where} dataset {dataset.name}", f"{dataset.source} {dataset.profile}")]
        scratch = tmp_path / "downloads" / where
        scratch.mkdir(parents=True)
        seen += [(f"{where} artifact {p}", t) for p, t in artifact_texts(client, where, scratch)]
    assert len(seen) > 50  # params, tags, settings files, summaries, datasets were all read
    leaks = [(what, value) for what, value in seen if str(tmp_path) in value]
    assert not leaks, leaks[:5]
    parent = parents[0]
    assert parent.data.params["data.dir"].endswith(f"/{folder.name}")  # still says which folder
