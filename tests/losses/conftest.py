"""Fixtures of the criteria tests: a 30-class batch with ignored rows, KLUE's train counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.losses.helpers import KLUE_TRAIN_COUNTS, NUM_LABELS


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
