"""Logit-adjusted loss.

Menon, Jayasumana, Rawat, Jain, Veit, Kumar, "Long-tail Learning via Logit Adjustment", ICLR 2021,
arXiv:2007.07314 (the loss form; the authors use τ = 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses._base import Criterion
from losses._params import ParamSpec
from losses.class_weights import class_priors


class LogitAdjusted(Criterion):
    """Cross-entropy on ``logits + τ·log π``, with ``π`` the train-split label prior.

    Training against prior-shifted logits makes the plain ``argmax(logits)`` used at prediction time
    approximate the balanced-error classifier, so rare relations are predicted more often. ``τ = 0``
    is exactly cross-entropy. Needs ``class_counts`` with every class present.
    """

    name = "logit_adjusted"
    needs_class_counts = True
    params = (ParamSpec("tau", "float", 1.0, "scale τ of the log-prior shift (0: CE)", low=0.0),)

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(num_labels, **kwargs)
        self.tau = self.values["tau"]
        self.prior_shift = self.tau * class_priors(self.class_counts).log()

    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        shifted = logits + self.like(self.prior_shift, logits)
        return F.cross_entropy(shifted, target, reduction="none")
