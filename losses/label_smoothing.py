"""Label-smoothed cross-entropy, in the two conventions peers use.

Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
arXiv:1512.00567; Müller, Kornblith, Hinton, "When Does Label Smoothing Help?", NeurIPS 2019.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses._base import Criterion, class_vector_param
from losses._params import ParamSpec


class LabelSmoothing(Criterion):
    """Cross-entropy against a smoothed target ``q``; ``smoothing = 0`` is exactly cross-entropy.

    - ``convention="torch"`` (default; ``nn.CrossEntropyLoss(label_smoothing=ε)`` and HF's
      ``LabelSmoother``): ``q = (1 - ε)·onehot + ε/K``, i.e. the target gets ``1 - ε + ε/K``.
    - ``convention="seed"`` (the seed team's): the target gets ``1 - s``, every other class
      ``s / (K - 1)``. This is the torch form with ``ε = s·K / (K - 1)``, so it is converted, not
      re-implemented. K is always read from the logits.

    Loss: ``w_y · [(1 - ε)·(-log p_y) + ε·mean_k(-log p_k)]``. A class weight scales the example by
    its *target* class only: torch's ``cross_entropy(weight=..., label_smoothing=...)`` weights the
    smoothing term by every class's weight, which pushes no_relation examples toward rare classes
    (pytorch/pytorch#104776, torch 1.10 through at least 2.13), so the two are never combined.
    """

    name = "label_smoothing"
    params = (
        ParamSpec(
            "smoothing",
            "float",
            0.1,
            "smoothing mass ε (torch) or s (seed); 0: cross-entropy",
            low=0.0,
            high=1.0,
            high_inclusive=False,
        ),
        ParamSpec(
            "convention",
            "choice",
            "torch",
            "how smoothing is spread: torch or seed",
            choices=("torch", "seed"),
        ),
        class_vector_param(
            "weight", "per-class weight of the target class (None: unweighted)", ("inverse_freq",)
        ),
    )

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(num_labels, **kwargs)
        self.smoothing = self.values["smoothing"]
        self.convention = self.values["convention"]
        self.weight = self.class_vector("weight", self.values["weight"])

    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        num_classes = logits.shape[-1]
        epsilon = self.smoothing
        if self.convention == "seed":
            epsilon = self.smoothing * num_classes / (num_classes - 1)
        log_p = F.log_softmax(logits, dim=-1)
        nll = -log_p.gather(-1, target[:, None]).squeeze(-1)
        loss = (1.0 - epsilon) * nll - epsilon * log_p.mean(dim=-1)
        return self.scale_by_target(loss, target, self.weight)
