"""Shared fixed inputs for the criteria tests: a 30-class batch with ignored rows, KLUE's counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

NUM_LABELS = 30

# KLUE RE v1.1 train label counts in relation_list.json order (no_relation first): a realistic,
# heavily imbalanced prior (9534 vs 40) for the count-based criteria.
KLUE_TRAIN_COUNTS = [
    9534,
    66,
    450,
    1195,
    1320,
    1866,
    420,
    98,
    380,
    155,
    4284,
    48,
    1130,
    418,
    166,
    40,
    193,
    1234,
    3573,
    82,
    1001,
    520,
    304,
    136,
    795,
    190,
    534,
    139,
    96,
    2103,
]


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    """24 examples × 30 classes (logits ~ N(0, 3²)); rows 3 and 17 carry the ignore label."""
    rng = np.random.default_rng(20261129)
    logits = rng.normal(0.0, 3.0, size=(24, NUM_LABELS))
    labels = rng.integers(0, NUM_LABELS, size=24)
    labels[[3, 17]] = -100
    return logits, labels


@pytest.fixture
def class_counts() -> torch.Tensor:
    return torch.tensor(KLUE_TRAIN_COUNTS)


def loss_value(criterion, logits: np.ndarray, labels: np.ndarray, **kwargs) -> float:
    """Run ``criterion`` on float64 copies of the NumPy inputs; return the scalar as a float."""
    return float(criterion(torch.from_numpy(logits), torch.from_numpy(labels), **kwargs))
