"""Poly-1 loss.

Leng, Tan, Liu, Cubuk, Shi, Cheng, Anguelov, "PolyLoss: A Polynomial Expansion Perspective of
Classification Loss Functions", ICLR 2022, arXiv:2204.12511. The authors use ε = 1 for ImageNet
classification (and search ε in [-1, 8] elsewhere); timm's `poly_loss.py` does the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses._base import Criterion
from losses._params import ParamSpec


class Poly1(Criterion):
    """``-log p_y + ε·(1 - p_y)``; ``ε = 0`` is exactly cross-entropy.

    ``ε > 0`` keeps pushing confident correct examples (a larger leading polynomial coefficient);
    ``ε = -1`` removes the first polynomial term. ``1 - p_y`` is computed as ``-expm1(log p_y)``.
    """

    name = "poly1"
    params = (ParamSpec("epsilon", "float", 1.0, "weight ε of the (1 - p_y) term", low=-1.0),)

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(num_labels, **kwargs)
        self.epsilon = self.values["epsilon"]

    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=-1).gather(-1, target[:, None]).squeeze(-1)
        return -log_p + self.epsilon * -torch.expm1(log_p)
