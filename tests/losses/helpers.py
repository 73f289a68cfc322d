"""Fixed inputs for the criteria tests: KLUE's label count and train counts, and a loss runner."""

from __future__ import annotations

import numpy as np
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


def loss_value(criterion, logits: np.ndarray, labels: np.ndarray, **kwargs) -> float:
    """Run ``criterion`` on float64 copies of the NumPy inputs; return the scalar as a float."""
    return float(criterion(torch.from_numpy(logits), torch.from_numpy(labels), **kwargs))
