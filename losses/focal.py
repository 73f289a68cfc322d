"""Focal loss.

Lin, Goyal, Girshick, He, Dollár, "Focal Loss for Dense Object Detection", ICCV 2017,
arXiv:1708.02002 — here in its multi-class (softmax) form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses._base import Criterion, class_vector_param
from losses._params import ParamSpec


class Focal(Criterion):
    """``-α_y · (1 - p_y)^γ · log p_y``; ``γ = 0`` without ``α`` is exactly cross-entropy.

    ``(1 - p_y)`` is computed as ``-expm1(log p_y)`` clamped to the smallest normal float: the
    naive ``(1 - p)**γ`` has NaN gradients for ``0 < γ < 1`` as ``p → 1``, and ``p = exp(-CE)`` is
    wrong as soon as CE is weighted or smoothed. ``α`` is a per-class vector (never a scalar: a
    scalar α as in binary detection code would weight class 0, KLUE's no_relation, differently
    from every other class).
    """

    name = "focal"
    params = (
        ParamSpec("gamma", "float", 2.0, "focusing parameter γ (0: cross-entropy)", low=0.0),
        class_vector_param("alpha", "per-class weight α_y (None: unweighted)"),
        ParamSpec(
            "beta",
            "float",
            0.999,
            'Cui et al. β, used only by alpha="effective_number"',
            low=0.0,
            high=1.0,
            high_inclusive=False,
        ),
    )

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(num_labels, **kwargs)
        self.gamma = self.values["gamma"]
        self.alpha = self.class_vector("alpha", self.values["alpha"], beta=self.values["beta"])

    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=-1).gather(-1, target[:, None]).squeeze(-1)
        one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
        loss = -(one_minus_p**self.gamma) * log_p
        return self.scale_by_target(loss, target, self.alpha)
