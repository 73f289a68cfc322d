"""Cross-entropy, the baseline every other criterion reduces to at its neutral setting."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses._base import Criterion, class_vector_param


class CrossEntropy(Criterion):
    """``-w_y · log p_y``; ``w`` = 1 unless a per-class ``weight`` is given.

    ``weight="inverse_freq"`` uses ``N / (K · n_c)`` from the train-split class counts.
    """

    name = "ce"
    params = (
        class_vector_param(
            "weight", "per-class weight of the target class (None: unweighted)", ("inverse_freq",)
        ),
    )

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(num_labels, **kwargs)
        self.weight = self.class_vector("weight", self.values["weight"])

    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits, target, reduction="none")
        return self.scale_by_target(loss, target, self.weight)
