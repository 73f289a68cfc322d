"""A hub model out of reach is refused in seconds, before the data step, with the loading message.

Offline, ``from_pretrained`` used to retry each file five times (about a minute) after the data
was prepared. These runs have no network by construction: ``HF_HUB_OFFLINE=1``, or an
``HF_ENDPOINT`` on a closed port of 127.0.0.1 (connection refused), and an empty ``HF_HOME``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.support import free_port
from tests.helpers import QUICKSTART, REPO
from trainable.common.settings import ModelSettings
from trainable.hub import check_model_source
from trainable.model import ModelLoadError

HUB_ID = "klue/roberta-large"
CLOSED = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
NO_HUB = {  # environment -> the reason the message gives
    "HF_HUB_OFFLINE=1": (
        {"HF_HUB_OFFLINE": "1"},
        "HF_HUB_OFFLINE is set and it is not in the local cache",
    ),
    "endpoint refused": ({"HF_ENDPOINT": CLOSED}, f"{CLOSED} did not answer: "),
}


def _entry(module: str, tmp_path, no_hub: dict[str, str]) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", module, "--config", str(QUICKSTART),
        "--set", f"model.name_or_path={HUB_ID}", "--set", f"storage.path={tmp_path / 'results'}",
        "--set", "tracking.uri=null",
    ]  # fmt: skip
    inherited = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE")
    environment = {key: value for key, value in os.environ.items() if key not in inherited}
    environment.update({"HF_HOME": str(tmp_path / "hf"), **no_hub})
    # The bound: the process ends well before the ~60 s from_pretrained spent retrying.
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=30, env=environment
    )


@pytest.mark.parametrize(("no_hub", "reason"), NO_HUB.values(), ids=NO_HUB)
def test_the_sweep_refuses_an_unreachable_hub_model_before_preparing_data(tmp_path, no_hub, reason):
    done = _entry("search.run", tmp_path, no_hub)
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback, no retry warnings
    assert line.startswith(f"error: model.name_or_path='{HUB_ID}': cannot load the model (")
    assert reason in line
    assert line.endswith(
        "Use a reachable hub id, a local save_pretrained folder, or 'scratch' offline."
    )
    assert "preparing data" not in done.stdout


def test_one_training_refuses_it_too(tmp_path):
    no_hub, reason = NO_HUB["HF_HUB_OFFLINE=1"]
    done = _entry("search.trial", tmp_path, no_hub)
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()
    assert reason in line
    assert "preparing data" not in done.stdout


def test_scratch_and_local_folders_are_not_probed_and_a_bad_path_is_named(tmp_path):
    check_model_source(ModelSettings(name_or_path="scratch"))
    check_model_source(ModelSettings(name_or_path=str(tmp_path)))  # a folder: from_pretrained's
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(
        ModelLoadError, match=r"cannot load the model \(no such folder, and not a hub id\)"
    ):
        check_model_source(ModelSettings(name_or_path=str(missing)))
