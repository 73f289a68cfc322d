"""Training criteria for KLUE RE, by name: ``build_criterion("focal", 30, gamma=2.0)``.

Every criterion is a callable ``criterion(outputs_or_logits, labels, num_items_in_batch=None)``
returning a scalar tensor, usable directly as HF ``Trainer(compute_loss_func=...)``. Pure PyTorch;
this package imports nothing else of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from losses._base import IGNORE_INDEX, Criterion
from losses._params import ParamSpec
from losses.ce import CrossEntropy
from losses.class_balanced import ClassBalanced
from losses.focal import Focal
from losses.label_smoothing import LabelSmoothing
from losses.logit_adjusted import LogitAdjusted
from losses.poly1 import Poly1

__all__ = [
    "CRITERIA",
    "IGNORE_INDEX",
    "ClassBalanced",
    "Criterion",
    "CrossEntropy",
    "Focal",
    "LabelSmoothing",
    "LogitAdjusted",
    "ParamSpec",
    "Poly1",
    "build_criterion",
    "list_criteria",
]

# The one table of names: YAML, search spaces, MLflow params and the report all use these keys.
CRITERIA: dict[str, type[Criterion]] = {
    criterion.name: criterion
    for criterion in (CrossEntropy, Focal, LabelSmoothing, ClassBalanced, Poly1, LogitAdjusted)
}


def build_criterion(
    name: str,
    num_labels: int,
    *,
    class_counts: Sequence[int] | torch.Tensor | None = None,
    **params: Any,
) -> Criterion:
    """Build the criterion ``name`` for ``num_labels`` classes; ``None`` params take the defaults.

    ``class_counts`` are the train split's label counts, needed by class-statistic weights
    (``"inverse_freq"``, ``"effective_number"``), ``class_balanced`` and ``logit_adjusted``.
    Raises ``ValueError`` naming the criterion, parameter, value and allowed range.
    """
    if name not in CRITERIA:
        raise ValueError(f"unknown criterion {name!r}; known criteria: {', '.join(CRITERIA)}")
    given = {key: value for key, value in params.items() if value is not None}
    return CRITERIA[name](num_labels, class_counts=class_counts, **given)


def list_criteria() -> dict[str, dict[str, ParamSpec]]:
    """Every criterion name with its parameters (kind, default, range), in registry order."""
    return {name: {spec.name: spec for spec in cls.params} for name, cls in CRITERIA.items()}
