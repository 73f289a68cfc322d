"""The shared contract of every criterion: validation, HF adaptation, masking and reduction.

A subclass declares its ``params`` and writes ``per_example_loss(logits, target)``; everything the
criteria must agree on lives here once:

- ``criterion(outputs_or_logits, labels, num_items_in_batch=None)`` is HF
  ``Trainer(compute_loss_func=...)``'s signature; a ``ModelOutput``/dict is read for its ``logits``.
- Loss math runs on float32 (float64 stays float64 for gradcheck): bf16 loss math loses ~2e-3.
- Labels equal to ``IGNORE_INDEX`` (-100, HF's convention) contribute nothing.
- Reduction: ``sum / num_items_in_batch`` when HF passes it (then the Trainer does not divide by the
  gradient-accumulation steps), else the mean over non-ignored examples. Class weights scale each
  example's loss but never the denominator (torch's weighted ``"mean"`` divides by the sum of
  weights instead), so accumulation and batch composition never change the loss scale.
- K always comes from the logits and must equal ``num_labels`` (peers built an 11-class smoothing
  loss for 30-class logits; here that is an error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from losses._params import CLASS_STATISTICS, ParamSpec
from losses.class_weights import effective_number_weights, inverse_frequency_weights

IGNORE_INDEX = -100


class Criterion:
    """Base class; see the module docstring for the contract every criterion shares."""

    name: ClassVar[str]
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    needs_class_counts: ClassVar[bool] = False

    def __init__(
        self,
        num_labels: int,
        *,
        class_counts: Sequence[int] | torch.Tensor | None = None,
        **params: Any,
    ) -> None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(
                f"{self.name}: num_labels must be an integer >= 2, but got {num_labels!r}"
            )
        self.num_labels = num_labels
        self.class_counts = self._check_class_counts(class_counts)
        self.values = self._check_params(params)
        self._device_copies: dict[tuple, torch.Tensor] = {}

    # ---------------------------------------------------------------- subclass interface
    def per_example_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-example loss ``[N]`` from float32+ ``logits [N, K]`` and in-range ``target``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the HF-facing call
    def __call__(
        self,
        outputs: Any,
        labels: torch.Tensor,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = _logits_of(outputs)
        num_classes = logits.shape[-1]
        if num_classes != self.num_labels:
            raise ValueError(
                f"{self.name}: logits have {num_classes} classes but the criterion was built for "
                f"num_labels={self.num_labels}"
            )
        logits = logits.reshape(-1, num_classes)
        if logits.dtype != torch.float64:
            logits = logits.float()
        labels = labels.reshape(-1).to(logits.device)
        valid = labels != IGNORE_INDEX
        target = torch.where(valid, labels, torch.zeros_like(labels))
        self._check_labels(target)
        total = (self.per_example_loss(logits, target) * valid).sum()
        if num_items_in_batch is not None:
            return total / num_items_in_batch
        # An all-ignored batch gives 0 (not NaN) and keeps the graph alive.
        return total / valid.sum().clamp_min(1)

    # ---------------------------------------------------------------- helpers for subclasses
    def class_vector(
        self, param: str, value: str | torch.Tensor | None, beta: float = 0.999
    ) -> torch.Tensor | None:
        """Resolve a ``class_vector`` parameter to a float64 tensor (or None for "no weights")."""
        if value is None or isinstance(value, torch.Tensor):
            return value
        counts = self.require_class_counts(f"{param}={value!r}")
        if value == "inverse_freq":
            return inverse_frequency_weights(counts)
        return effective_number_weights(counts, beta)

    def require_class_counts(self, reason: str) -> torch.Tensor:
        if self.class_counts is None:
            raise ValueError(
                f"{self.name}: class_counts (train-split label counts) are required for {reason}"
            )
        return self.class_counts

    def scale_by_target(
        self, loss: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """``weight[target] · loss`` (``loss`` unchanged when there is no weight)."""
        if weight is None:
            return loss
        return self.like(weight, loss)[target] * loss

    def like(self, tensor: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """``tensor`` on ``reference``'s device and dtype, copied once rather than every step."""
        key = (id(tensor), reference.device, reference.dtype)
        copy = self._device_copies.get(key)
        if copy is None:
            copy = self._device_copies[key] = tensor.to(reference.device, reference.dtype)
        return copy

    # ---------------------------------------------------------------- validation
    def _check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        known = {spec.name: spec for spec in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            raise ValueError(
                f"{self.name}: unknown parameter {unknown[0]!r}; known parameters: {allowed}"
            )
        return {
            name: spec.check(self.name, params.get(name, spec.default), self.num_labels)
            for name, spec in known.items()
        }

    def _check_class_counts(
        self, counts: Sequence[int] | torch.Tensor | None
    ) -> torch.Tensor | None:
        if counts is None:
            if self.needs_class_counts:
                raise ValueError(
                    f"{self.name}: class_counts (train-split label counts) are required "
                    "for this criterion"
                )
            return None
        tensor = torch.as_tensor(counts, dtype=torch.float64).flatten()
        if tensor.numel() != self.num_labels:
            raise ValueError(
                f"{self.name}: class_counts must have one entry per class ({self.num_labels}), "
                f"but got {tensor.numel()}"
            )
        if not bool(torch.isfinite(tensor).all()) or bool((tensor < 0).any()):
            raise ValueError(f"{self.name}: class_counts must be counts >= 0, but got {counts!r}")
        return tensor

    def _check_labels(self, target: torch.Tensor) -> None:
        out_of_range = (target < 0) | (target >= self.num_labels)
        if bool(out_of_range.any()):
            bad = target[out_of_range][0].item()
            raise ValueError(
                f"{self.name}: labels must be in [0, {self.num_labels - 1}] or {IGNORE_INDEX} "
                f"(ignored), but got {bad}"
            )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={'<vector>' if isinstance(v, torch.Tensor) else v!r}"
            for k, v in self.values.items()
        )
        return f"{type(self).__name__}(num_labels={self.num_labels}{', ' if shown else ''}{shown})"


def class_vector_param(
    name: str, description: str, statistics: tuple[str, ...] = CLASS_STATISTICS
) -> ParamSpec:
    """A per-class weight parameter: a K-vector, or a statistic of the train-split class counts."""
    return ParamSpec(name, "class_vector", None, description, choices=statistics)


def _logits_of(outputs: Any) -> torch.Tensor:
    """The one place HF model outputs are adapted: ``ModelOutput`` and dicts carry ``logits``."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    if isinstance(outputs, Mapping) and "logits" in outputs:
        return outputs["logits"]
    if isinstance(outputs, tuple) and outputs and isinstance(outputs[0], torch.Tensor):
        return outputs[0]
    raise TypeError(
        f"expected logits or a model output with 'logits', got {type(outputs).__name__}"
    )
