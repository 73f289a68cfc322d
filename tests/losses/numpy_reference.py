"""Independent float64 NumPy references, written from the papers' formulas, not from our code.

Each function returns the per-example losses; `reduce` applies the documented reduction.
"""

from __future__ import annotations

import numpy as np

IGNORE = -100


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reduce(per_example: np.ndarray, labels: np.ndarray, num_items: int | None = None) -> float:
    valid = labels != IGNORE
    total = per_example[valid].sum()
    return float(total / (num_items if num_items is not None else max(valid.sum(), 1)))


def _target_log_p(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    safe = np.where(labels == IGNORE, 0, labels)
    return log_softmax(logits)[np.arange(len(labels)), safe]


def _weight_of(weight: np.ndarray | None, labels: np.ndarray) -> np.ndarray:
    if weight is None:
        return np.ones(len(labels))
    return weight[np.where(labels == IGNORE, 0, labels)]


def ce(logits, labels, weight=None):
    return -_weight_of(weight, labels) * _target_log_p(logits, labels)


def focal(logits, labels, gamma, alpha=None):
    p = np.exp(_target_log_p(logits, labels))
    return -_weight_of(alpha, labels) * (1.0 - p) ** gamma * np.log(p)


def smoothed_ce(logits, labels, target_mass, other_mass, weight=None):
    """CE against q: ``target_mass`` on the label, ``other_mass`` on every other class."""
    k = logits.shape[-1]
    safe = np.where(labels == IGNORE, 0, labels)
    q = np.full((len(labels), k), other_mass)
    q[np.arange(len(labels)), safe] = target_mass
    return -_weight_of(weight, labels) * (q * log_softmax(logits)).sum(axis=-1)


def label_smoothing_torch(logits, labels, epsilon, weight=None):
    k = logits.shape[-1]
    return smoothed_ce(logits, labels, 1 - epsilon + epsilon / k, epsilon / k, weight)


def label_smoothing_seed(logits, labels, s, weight=None):
    k = logits.shape[-1]
    return smoothed_ce(logits, labels, 1 - s, s / (k - 1), weight)


def effective_number_weights(counts, beta):
    w = (1 - beta) / (1 - beta ** np.asarray(counts, dtype=np.float64))
    return w / w.sum() * len(w)


def inverse_freq_weights(counts):
    counts = np.asarray(counts, dtype=np.float64)
    return counts.sum() / (len(counts) * counts)


def poly1(logits, labels, epsilon):
    p = np.exp(_target_log_p(logits, labels))
    return -np.log(p) + epsilon * (1 - p)


def logit_adjusted(logits, labels, tau, counts):
    prior = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    return ce(logits + tau * np.log(prior), labels)
