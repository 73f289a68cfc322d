"""Training throughput of the trainable against a bare PyTorch loop and the seed team's recipe.

    python bench/trainable.py [--examples 2000] [--rounds 2]

All three train the same scratch encoder (quickstart size) on the same real KLUE examples for one
epoch, in one run, interleaved over rounds in rotating order (the fastest round of each is kept):

- trainable: our HF Trainer set-up (dynamic padding, length-grouped batches, entity_start head),
  timed from the first step to the end of the epoch (evaluation excluded);
- bare loop: the same model and criterion over the very batches the Trainer's dataloader yields
  (collated in advance), in a hand-written AdamW loop: the ceiling our Trainer overhead is
  measured against (target: trainable >= 0.90 of it);
- seed recipe: HF Trainer, every input padded to max_length 256, [CLS] head, random batches
  (target: trainable >= 2.5x it).

Needs KLUE_RE_DIR.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

# Run as `python bench/trainable.py`, this folder would shadow the `trainable` package.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from losses import build_criterion  # noqa: E402
from trainable.common.settings import TrialSettings  # noqa: E402
from trainable.data import PreparedData, prepare_data  # noqa: E402
from trainable.hf_trainer import build_trainer  # noqa: E402
from trainable.model import build_model  # noqa: E402

SEED_MAX_LENGTH = 256


class _EpochTimer(TrainerCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.start
        control.should_evaluate = control.should_save = False
        return control


def our_trainer(settings: TrialSettings, data: PreparedData, head: str, output: str):
    """The trainable's model, criterion and HF Trainer set-up, seeded identically every time."""
    torch.manual_seed(0)
    model = build_model(
        settings.model.model_copy(update={"head": head}), data.tokenizer, data.num_labels
    )
    criterion = build_criterion("ce", data.num_labels)
    trainer = build_trainer(
        model, data, criterion, settings.train, seed=0, output_dir=Path(output),
        on_epoch=lambda *args: None,
    )  # fmt: skip
    return trainer, model, criterion


def time_trainer(settings: TrialSettings, data: PreparedData, head: str) -> float:
    """Seconds for one training epoch of our Trainer set-up with ``head``."""
    with tempfile.TemporaryDirectory() as output:
        trainer, _, _ = our_trainer(settings, data, head, output)
        timer = _EpochTimer()
        trainer.add_callback(timer)
        trainer.train()
    return timer.seconds


def time_bare_loop(settings: TrialSettings, data: PreparedData) -> float:
    """Seconds for one epoch of a hand-written loop over the very batches the Trainer draws."""
    with tempfile.TemporaryDirectory() as output:
        trainer, model, criterion = our_trainer(settings, data, "entity_start", output)
        batches = list(trainer.get_train_dataloader())
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.train.learning_rate)
    start = time.perf_counter()
    for batch in batches:
        labels = batch.pop("labels")
        loss = criterion(model(**batch), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def seed_recipe_data(data: PreparedData) -> PreparedData:
    """The same examples padded to max_length 256, as the seed's pipeline fed them."""
    pad = data.tokenizer.pad_token_id
    padded = {}
    for name, split in data.splits.items():
        full_length = [
            np.pad(ids, (0, SEED_MAX_LENGTH - len(ids)), constant_values=pad)
            for ids in split.input_ids
        ]
        padded[name] = type(split)(
            split.guids, full_length, split.subject_pos, split.object_pos, split.labels
        )
    return PreparedData(
        data.label_names, data.tokenizer, padded, data.class_counts, data.fingerprint, data.notes
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="train examples per epoch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = TrialSettings.model_validate(
        {
            "data": {
                "train_subsample": args.examples, "dev_subsample": 200,
                "max_length": SEED_MAX_LENGTH, "holdout_fraction": 0.05,
            },
            "model": {"name_or_path": "scratch"},
            "train": {"batch_size": 32, "learning_rate": 1e-3, "num_train_epochs": 1},
        }
    )  # fmt: skip
    data = prepare_data(settings)
    padded = seed_recipe_data(data)
    seed_settings = settings.model_copy(deep=True)
    runs = {
        "trainable": lambda: time_trainer(settings, data, "entity_start"),
        "bare loop": lambda: time_bare_loop(settings, data),
        "seed recipe": lambda: time_trainer(seed_settings, padded, "cls"),
    }
    best = {name: float("inf") for name in runs}
    names = list(runs)
    for round_index in range(args.rounds):  # rotate the order so no setup always runs first
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            best[name] = min(best[name], runs[name]())
    examples = len(data.splits["train"])
    rate = {name: examples / seconds for name, seconds in best.items()}
    print(
        f"{examples} real KLUE train examples, 1 epoch, batch 32, scratch encoder "
        f"({settings.model.scratch.num_layers} layers, {settings.model.scratch.hidden_size} wide), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.rounds}"
    )
    print(f"{'setup':<14}{'examples/s':>12}{'trainable ÷ it':>17}")
    for name in runs:
        print(f"{name:<14}{rate[name]:>12.1f}{rate['trainable'] / rate[name]:>17.2f}")


if __name__ == "__main__":
    main()
