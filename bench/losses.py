"""Cost of each criterion relative to cross-entropy, alone and inside a small encoder step.

    python bench/losses.py [--rounds 30] [--batch-size 32] [--seq-len 128]

Times are the fastest of interleaved rounds (every criterion once per round, in rotating order),
so machine drift hits all criteria alike; ratios are to CE in the same run. The fastest run is the
least disturbed one (timeit's advice); the encoder-step ratio is also derived from the loss-alone
difference (``1 + (t_loss - t_ce) / t_step``), which no scheduling noise can blur. The encoder
step is a 2-layer, 128-wide BERT (the offline quickstart's size): forward + loss + backward.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

# Run as `python bench/losses.py`, this file's folder comes first on sys.path and would shadow the
# `losses` package with this very script; put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from losses import CRITERIA, build_criterion  # noqa: E402

NUM_LABELS = 30
# KLUE RE v1.1 train label counts (relation_list.json order), for the count-based criteria.
KLUE_TRAIN_COUNTS = [
    9534, 66, 450, 1195, 1320, 1866, 420, 98, 380, 155, 4284, 48, 1130, 418, 166,
    40, 193, 1234, 3573, 82, 1001, 520, 304, 136, 795, 190, 534, 139, 96, 2103,
]  # fmt: skip
SETTINGS = {
    "ce": {},
    "focal": {"gamma": 2.0},
    "label_smoothing": {"smoothing": 0.1},
    "class_balanced": {"beta": 0.999},
    "poly1": {"epsilon": 1.0},
    "logit_adjusted": {"tau": 1.0},
}


def fastest_seconds(steps: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Fastest wall time of each step, interleaved round-robin with a rotating start."""
    names = list(steps)
    for name in names:  # warm-up: allocator, autograd graph caches
        steps[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return {name: min(samples) for name, samples in times.items()}


def loss_alone_steps(criteria, batch_size: int, repeat: int) -> dict[str, Callable[[], None]]:
    logits = torch.randn(batch_size, NUM_LABELS, requires_grad=True)
    labels = torch.randint(0, NUM_LABELS, (batch_size,))

    def step(criterion) -> Callable[[], None]:
        def run() -> None:
            for _ in range(repeat):  # a single call is ~50 µs: time a block of them
                criterion(logits, labels, num_items_in_batch=batch_size).backward()

        return run

    return {name: step(criterion) for name, criterion in criteria.items()}


def encoder_steps(criteria, batch_size: int, seq_len: int) -> dict[str, Callable[[], None]]:
    config = BertConfig(
        vocab_size=16000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=512, max_position_embeddings=512, num_labels=NUM_LABELS,
    )  # fmt: skip
    model = BertForSequenceClassification(config).train()
    input_ids = torch.randint(0, config.vocab_size, (batch_size, seq_len))
    labels = torch.randint(0, NUM_LABELS, (batch_size,))

    def step(criterion) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            outputs = model(input_ids=input_ids)
            criterion(outputs, labels, num_items_in_batch=batch_size).backward()

        return run

    return {name: step(criterion) for name, criterion in criteria.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    criteria = {
        name: build_criterion(name, NUM_LABELS, class_counts=KLUE_TRAIN_COUNTS, **SETTINGS[name])
        for name in CRITERIA
    }
    repeat = 100
    alone = fastest_seconds(loss_alone_steps(criteria, args.batch_size, repeat), args.rounds)
    in_step = fastest_seconds(encoder_steps(criteria, args.batch_size, args.seq_len), args.rounds)

    print(
        f"batch {args.batch_size} x {NUM_LABELS} classes; encoder step: 2-layer 128-wide BERT, "
        f"seq len {args.seq_len}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"fastest of {args.rounds} interleaved rounds"
    )
    header = f"{'criterion':<16}{'loss fwd+bwd':>14}{'÷ ce':>7}{'encoder step':>15}{'÷ ce':>8}"
    print(header + f"{'÷ ce (derived)':>16}")
    for name in criteria:
        loss_seconds = alone[name] / repeat
        derived = 1 + (loss_seconds - alone["ce"] / repeat) / in_step["ce"]
        print(
            f"{name:<16}{loss_seconds * 1e6:>11.1f} µs{alone[name] / alone['ce']:>7.2f}"
            f"{in_step[name] * 1e3:>12.1f} ms{in_step[name] / in_step['ce']:>8.3f}{derived:>16.4f}"
        )


if __name__ == "__main__":
    main()
