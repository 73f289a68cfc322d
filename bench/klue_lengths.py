"""Real KLUE train lengths (with our entity markers) and batches of random ids that follow them.

Only torch and numpy at import: bench/throughput.py uses this on bare GPU machines, where
``klue_train_lengths.json`` (a histogram derived here from the real data, a few KB) stands in
for the dataset. ``python bench/klue_lengths.py`` rebuilds it (needs the project and KLUE_RE_DIR).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

LENGTHS_FILE = Path(__file__).with_name("klue_train_lengths.json")


def load_lengths() -> tuple[np.ndarray, np.ndarray, dict]:
    """(lengths, probabilities, file contents) of marked KLUE train examples."""
    saved = json.loads(LENGTHS_FILE.read_text())
    lengths = np.array([int(k) for k in saved["counts"]])
    counts = np.array(list(saved["counts"].values()), dtype=float)
    return lengths, counts / counts.sum(), saved


def write_lengths() -> None:
    """Tokenize the real train split as production prepares it (typed markers, max_length 256,
    the holdout taken out) with our scratch BPE (the only tokenizer offline), save the histogram.
    """
    from trainable.common.settings import TrialSettings
    from trainable.data import prepare_data

    settings = TrialSettings.model_validate({"model": {"name_or_path": "scratch"}})
    train = prepare_data(settings).splits["train"]
    counts = np.bincount([len(ids) for ids in train.input_ids])
    saved = {
        "what": "token counts per example ([CLS] .. [SEP], typed_punct markers) of the KLUE RE "
        "v1.1 train split, holdout removed, max_length 256",
        "tokenizer": f"scratch BPE, vocab {settings.model.scratch.vocab_size}, trained on train",
        "examples": len(train),
        "tokens": int(sum(len(ids) for ids in train.input_ids)),
        "counts": {str(n): int(c) for n, c in enumerate(counts) if c},
    }
    LENGTHS_FILE.write_text(json.dumps(saved, indent=0) + "\n")
    print(f"wrote {LENGTHS_FILE}: {saved['examples']} examples, {saved['tokens']} tokens")


def epoch_tokens() -> int:
    """Real tokens in one epoch of the train split the histogram was taken from."""
    return int(load_lengths()[2]["tokens"])


def synthetic_batches(
    batch_size: int, count: int, vocab: int, pad_id: int, num_labels: int, seed: int = 0
) -> list[dict[str, torch.Tensor]]:
    """``count`` batches of random ids with real KLUE lengths, grouped like the Trainer's
    ``group_by_length`` sampler (a megabatch of 50 batches sorted by length, then cut), so each
    batch carries the padding a Trainer batch would."""
    lengths, probabilities, _ = load_lengths()
    rng = np.random.default_rng(seed)
    drawn = np.sort(rng.choice(lengths, size=50 * batch_size, p=probabilities))[::-1]
    chunks = [drawn[i : i + batch_size] for i in range(0, len(drawn), batch_size)]
    picked = rng.choice(len(chunks), size=count)
    return [_batch(chunks[i], vocab, pad_id, num_labels, rng) for i in picked]


def _batch(
    lengths: np.ndarray, vocab: int, pad_id: int, num_labels: int, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    width = -(-int(lengths.max()) // 8) * 8  # DataCollatorWithPadding(pad_to_multiple_of=8)
    ids = torch.from_numpy(rng.integers(5, vocab, size=(len(lengths), width)))
    mask = torch.from_numpy(np.arange(width)[None, :] < lengths[:, None]).long()
    ids = ids.masked_fill(mask == 0, pad_id)
    # Both start markers inside the sentence, between [CLS] and [SEP].
    positions = torch.from_numpy(rng.integers(1, lengths[:, None] - 1, size=(len(lengths), 2)))
    return {
        "input_ids": ids, "attention_mask": mask, "subject_pos": positions[:, 0],
        "object_pos": positions[:, 1],
        "labels": torch.from_numpy(rng.integers(0, num_labels, size=len(lengths))),
    }  # fmt: skip


if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    write_lengths()
