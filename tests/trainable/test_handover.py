"""Six trials through one reused Tune actor: the process's memory does not grow trial over trial.

Each trial records its process id and resident memory when it starts and after ``train_fn``
returned (``<storage.path>/handover/<n>.json``). One PID for all six proves Tune reused the
actor; the memory each trial leaves behind must stay flat. The first trial is the warm-up
(lazy imports, the tokenizer, allocator pools), so growth is measured from the second trial on.

Two measures, one exact and one coarse. The tensors alive in the process (counted through the
garbage collector) must stay within one weight copy. Resident memory is noisy (allocator pools,
Ray's own threads: tens of MB from one trial to the next on a loaded box, up and down), so it
is judged by its trend: the least-squares slope of the trials' end readings must stay under
half of one trial's training state (fp32 weights, gradients and AdamW's two moments: 16 bytes
a parameter), which is what a trial that left its model and optimizer behind adds each time.
On a GPU ``torch.cuda.memory_allocated`` (what the Trainer holds) must return to where it was.
"""

import gc
import json
import os

import numpy as np
import psutil
import pytest
import torch

from search import ray_tune
from tests.helpers import run_trials_on_one_actor
from tests.trainable.test_train import tiny_settings
from trainable.data import prepare_data
from trainable.model import RelationClassifier, build_model
from trainable.train import train_fn

pytestmark = pytest.mark.slow
TRIALS = 6
# Large enough that one trial's state (~120 MB) stands well above resident memory's noise.
MODEL = {"num_layers": 2, "hidden_size": 512, "num_heads": 8, "intermediate_size": 2048}


def train_fn_measured(config, *, settings, **shared) -> None:
    """``train_fn`` between two memory readings of this process."""
    started = psutil.Process().memory_info().rss
    cuda = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
    train_fn(config, settings=settings, **shared)
    folder = settings.storage.path / "handover"
    folder.mkdir(parents=True, exist_ok=True)
    reading = {
        "pid": os.getpid(),
        "rss_start": started,
        "rss_end": psutil.Process().memory_info().rss,
        "cuda_start": cuda,
        "cuda_end": torch.cuda.memory_allocated() if torch.cuda.is_available() else 0,
        "models_alive": sum(isinstance(o, RelationClassifier) for o in gc.get_objects()),
        "tensor_bytes": sum(
            o.numel() * o.element_size() for o in gc.get_objects() if isinstance(o, torch.Tensor)
        ),
    }
    (folder / f"{len(list(folder.iterdir()))}.json").write_text(json.dumps(reading))


def slope(readings: list[int]) -> float:
    """Least-squares growth per trial: robust to one noisy reading, unlike last minus first."""
    return float(np.polyfit(range(len(readings)), readings, 1)[0])


def test_a_reused_actor_hands_over_clean_between_trials(raw_train, slice_dir, tmp_path):
    # A trial's state is the model's (weights, gradients, AdamW's moments), not the data's:
    # 100 examples (7 batches) leave the same state behind as 300, at a third of the training.
    folder = slice_dir(raw_train[:100], raw_train[100:140])
    settings = tiny_settings(
        folder, tmp_path,
        model={"name_or_path": "scratch", "scratch": {**MODEL, "vocab_size": 2000}},
        train={"learning_rate": 1e-3, "num_train_epochs": 1, "batch_size": 16},
        storage={"path": str(tmp_path / "storage")},
    )  # fmt: skip
    data = prepare_data(settings)
    rates = {"learning_rate": ray_tune.grid([1e-3 * (i + 1) for i in range(TRIALS)])}
    results = run_trials_on_one_actor(
        train_fn_measured, rates, settings, data, "handover", tmp_path / "results"
    )
    assert results.num_errors == 0 and results.num_terminated == TRIALS

    readings = [
        json.loads((settings.storage.path / "handover" / f"{i}.json").read_text())
        for i in range(TRIALS)
    ]
    assert len({r["pid"] for r in readings}) == 1  # one process ran every trial
    state_bytes = 16 * sum(p.numel() for p in build_model(
        settings.model, data.tokenizer, data.num_labels).parameters())  # fmt: skip
    assert [r["models_alive"] for r in readings] == [0] * TRIALS  # no trial's model survived
    tensors = [r["tensor_bytes"] for r in readings]
    assert max(tensors[1:]) - min(tensors[1:]) < state_bytes / 16, tensors  # < one weight copy
    ends = [r["rss_end"] for r in readings]
    print("rss at each trial's end (MB):", [round(e / 2**20) for e in ends],
          "slope (MB/trial):", round(slope(ends[1:]) / 2**20),
          "one trial's state (MB):", round(state_bytes / 2**20))  # fmt: skip
    assert slope(ends[1:]) < state_bytes / 2
    assert {r["cuda_end"] - r["cuda_start"] for r in readings} == {0}
