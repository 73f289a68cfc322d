"""bench/throughput.py and bench/gpu_check.sh: the printed figures, the torch-only roberta-large
path a bare GPU machine runs, the peak table, and the no-GPU exit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from bench.klue_lengths import load_lengths, synthetic_batches
from bench.peak_flops import cpu_peak, gpu_peak
from bench.roberta_shape import EntityStartClassifier
from trainable.model import RelationClassifier

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("tokens/step", "tokens/s", "achieved TFLOP/s", "peak TFLOP/s", "MFU %")
# What the lent GPU machine lacks: the roberta-large path must not need any of it.
BLOCK_PROJECT_DEPS = (
    "import runpy, sys\n"
    "for name in ('pydantic', 'ray', 'optuna', 'mlflow'): sys.modules[name] = None\n"
)


def _run_quick(setup: str, tmp_path: Path, klue_dir: Path) -> str:
    script = BLOCK_PROJECT_DEPS if setup == "roberta-large" else "import runpy, sys\n"
    script += (
        f"sys.argv = ['throughput.py', '--quick', '--setups', {setup!r}]\n"
        f"runpy.run_path({str(REPO / 'bench' / 'throughput.py')!r}, run_name='__main__')\n"
    )
    env = {**os.environ, "KLUE_RE_DIR": str(klue_dir)}  # absolute: the run's cwd is tmp_path
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    "setup", ["quickstart", pytest.param("roberta-large", marks=pytest.mark.slow)]
)
def test_quick_mode_prints_every_figure_positive(setup, tmp_path, klue_dir):
    """roberta-large's shape takes over a minute for two steps on 2 cores, hence slow."""
    output = _run_quick(setup, tmp_path, klue_dir)
    assert f"== {setup} | cpu fp32 | batch 2" in output
    assert re.search(r"^params\s+[\d.]+ M all, [\d.]+ M in the transformer layers", output, re.M)
    for field in FIELDS:
        found = re.search(rf"^{re.escape(field)}\s+([\d.e+-]+)", output, re.M)
        assert found, f"{field} missing from:\n{output}"
        assert float(found.group(1)) > 0, field


def test_the_roberta_large_path_imports_without_the_project_dependencies():
    script = BLOCK_PROJECT_DEPS + (
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import bench.throughput as t\n"
        "batch = t.synthetic_batches(2, 1, 32000, 1, t.NUM_LABELS)[0]\n"
        "print(batch['input_ids'].shape[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "2"


def test_the_entity_start_head_is_the_trainables():
    config = BertConfig(
        vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32,
    )  # fmt: skip
    encoder = BertModel(config, add_pooling_layer=False)
    ours = RelationClassifier(encoder, 30, head="entity_start", dropout=0.1).eval()
    bench = EntityStartClassifier(encoder, 30).eval()
    bench.load_state_dict(ours.state_dict())  # strict: the same names and shapes
    ids = torch.randint(5, 100, (3, 12))
    mask, subject, obj = torch.ones_like(ids), torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    expected = ours(ids, mask, subject_pos=subject, object_pos=obj).logits
    torch.testing.assert_close(bench(ids, mask, subject, obj), expected)


def test_synthetic_batches_have_real_lengths_and_trainer_padding():
    lengths, _, saved = load_lengths()
    assert saved["tokens"] == sum(int(n) * c for n, c in saved["counts"].items())
    for batch in synthetic_batches(8, 5, vocab=32000, pad_id=1, num_labels=30):
        real = batch["attention_mask"].sum(dim=1)
        assert set(real.tolist()) <= set(lengths.tolist())
        assert batch["input_ids"].shape[1] % 8 == 0
        assert (batch["input_ids"][batch["attention_mask"] == 0] == 1).all()
        assert (batch["subject_pos"] < real).all() and (batch["object_pos"] < real).all()


@pytest.mark.parametrize(
    ("name", "precision", "tflops"),
    [
        ("NVIDIA H200", "bf16", 989.0), ("NVIDIA H100 80GB HBM3", "bf16", 989.0),
        ("NVIDIA H100 PCIe", "bf16", 756.0), ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
        ("NVIDIA A100-SXM4-80GB", "fp32", 156.0), ("NVIDIA L4", "bf16", 121.0),
        ("NVIDIA L40S", "bf16", 362.0), ("NVIDIA A10G", "bf16", 125.0),
        ("NVIDIA GeForce RTX 4090", "bf16", 165.2),
    ],
)  # fmt: skip
def test_gpu_peaks_come_from_the_table(name, precision, tflops):
    assert gpu_peak(name, precision)[0] == pytest.approx(tflops * 1e12)


def test_an_unknown_gpu_has_no_peak_and_the_cpu_one_is_plausible():
    assert gpu_peak("Some Future GPU", "bf16")[0] is None
    flops, source = cpu_peak()
    assert 1e9 < flops < 1e14 and "FLOP/cycle" in source


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_gpu_check_without_a_gpu_says_so_and_exits_0(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path)}
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "needs a GPU" in done.stdout
    assert "needs a GPU" in (tmp_path / "gpu_check.txt").read_text()
