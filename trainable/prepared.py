"""What the data step hands every trial: tokenized splits, their tokenizer and label facts.

Its own module so that the data step (``trainable.data``) and the disk cache that stores its
result (``trainable.data_cache``) both build these without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase


class RelationDataset(torch.utils.data.Dataset):
    """Tokenized examples: variable-length ``input_ids`` plus entity positions and labels."""

    def __init__(
        self,
        guids: list[str],
        input_ids: list[np.ndarray],
        subject_pos: np.ndarray,
        object_pos: np.ndarray,
        labels: np.ndarray,
    ) -> None:
        self.guids = guids
        self.input_ids = input_ids
        self.subject_pos = subject_pos
        self.object_pos = object_pos
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, object]:
        return {
            "input_ids": self.input_ids[index].tolist(),
            "subject_pos": int(self.subject_pos[index]),
            "object_pos": int(self.object_pos[index]),
            "labels": int(self.labels[index]),
        }

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


@dataclass
class PreparedData:
    label_names: list[str]
    tokenizer: PreTrainedTokenizerBase
    splits: dict[str, RelationDataset]
    class_counts: list[int]  # of the train split, in label order: feeds count-based criteria
    fingerprint: str
    notes: list[str] = field(default_factory=list)  # what loading and tokenizing reported
    # role ("train", "dev", "relations") -> (absolute path, sha256 hex): the data's identity
    source_files: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)
