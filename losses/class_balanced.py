"""Class-balanced loss.

Cui, Jia, Lin, Song, Belongie, "Class-Balanced Loss Based on Effective Number of Samples",
CVPR 2019, arXiv:1901.05555. The authors search β in {0.9, 0.99, 0.999, 0.9999}.
"""

from __future__ import annotations

from typing import Any

import torch

from losses._base import Criterion
from losses._params import ParamSpec
from losses.ce import CrossEntropy
from losses.class_weights import effective_number_weights
from losses.focal import Focal


class ClassBalanced(Criterion):
    """The ``base`` loss (CE or focal) weighted per target class by ``(1 - β) / (1 - β^{n_y})``.

    Weights are normalised to sum to K. ``β = 0`` gives all-ones weights: exactly the unweighted
    base loss. Needs the train-split ``class_counts``; ``gamma`` applies to ``base="focal"`` only.
    """

    name = "class_balanced"
    needs_class_counts = True
    params = (
        ParamSpec(
            "beta",
            "float",
            0.999,
            "β of the effective number (0: no re-weighting)",
            low=0.0,
            high=1.0,
            high_inclusive=False,
        ),
        ParamSpec("base", "choice", "ce", "the loss being re-weighted", choices=("ce", "focal")),
        ParamSpec("gamma", "float", 2.0, 'focal γ, used only with base="focal"', low=0.0),
    )

    def __init__(self, num_labels: int, **kwargs: Any) -> None:
        super().__init__(num_labels, **kwargs)
        base = self.values["base"]
        if base == "ce" and "gamma" in kwargs:
            raise ValueError(
                f'{self.name}: gamma applies only with base="focal", but base={base!r}'
            )
        weights = effective_number_weights(self.class_counts, self.values["beta"])
        if base == "focal":
            self.base = Focal(num_labels, gamma=self.values["gamma"], alpha=weights)
        else:
            self.base = CrossEntropy(num_labels, weight=weights)

    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.base.per_example_loss(logits, target)
