"""Per-class weight vectors from label counts: pure functions, no knowledge of any loss.

The trainable counts labels on the train split once and passes the counts in; criteria turn them
into weights through these functions (timm keeps the same split in `timm/loss/class_weights.py`).
"""

from __future__ import annotations

import torch


def inverse_frequency_weights(class_counts: torch.Tensor) -> torch.Tensor:
    """``w_c = N / (K · n_c)``: scikit-learn's ``class_weight="balanced"``.

    The example-weighted mean of the weights is 1 (``Σ_c n_c w_c = N``): the loss keeps CE's scale.
    """
    counts = _positive_counts(class_counts, "inverse_freq")
    return counts.sum() / (counts.numel() * counts)


def effective_number_weights(class_counts: torch.Tensor, beta: float) -> torch.Tensor:
    """``w_c ∝ (1 - β) / (1 - β^{n_c})``, normalised to ``Σ_c w_c = K``.

    Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019,
    arXiv:1901.05555. ``β = 0`` gives all-ones weights (no re-weighting); ``β → 1`` approaches
    inverse frequency.
    """
    counts = _positive_counts(class_counts, "effective_number")
    weights = (1.0 - beta) / (1.0 - torch.pow(beta, counts))
    return weights * (counts.numel() / weights.sum())


def class_priors(class_counts: torch.Tensor) -> torch.Tensor:
    """``π_c = n_c / N``, the train-split label distribution (every class must occur)."""
    counts = _positive_counts(class_counts, "class priors")
    return counts / counts.sum()


def _positive_counts(class_counts: torch.Tensor, what: str) -> torch.Tensor:
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    missing = torch.nonzero(counts <= 0).flatten().tolist()
    if missing:
        raise ValueError(
            f"{what} needs every class seen at least once in class_counts, "
            f"but classes {missing} have count 0"
        )
    return counts
