"""Parameter specifications: one source for validation, `list_criteria()`, docs and search spaces.

A criterion declares its parameters as `ParamSpec`s; the constructor validates every value through
them, so a bad value fails when the criterion is built, never on the first batch. Error messages
state the rule, then what was received (Optuna's style):
``focal: gamma must be >= 0, but got -1.0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

CLASS_STATISTICS = ("inverse_freq", "effective_number")
"""Names that ask for a per-class vector computed from the train split's label counts."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a criterion.

    ``kind`` is ``"float"`` (numeric, bounded by ``low``/``high``), ``"choice"`` (one of
    ``choices``) or ``"class_vector"`` (a per-class list of K non-negative floats, or one of
    ``choices`` naming a statistic of the class counts). ``float`` parameters are searchable.
    """

    name: str
    kind: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    high_inclusive: bool = True
    choices: tuple[str, ...] = ()

    @property
    def range_text(self) -> str:
        """The allowed values in words, as error messages and docs/criteria.md show them."""
        if self.kind == "float":
            upper = "" if self.high is None else (" and <= " if self.high_inclusive else " and < ")
            upper += "" if self.high is None else f"{self.high:g}"
            return f">= {self.low:g}{upper}"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        named = ", ".join(repr(c) for c in self.choices)
        return f"a list of K non-negative numbers, {named} or None"

    def check(self, criterion: str, value: Any, num_labels: int) -> Any:
        """Return ``value`` normalised (float, str or 1-D float tensor) or raise ``ValueError``."""
        if self.kind == "float":
            return self._check_float(criterion, value)
        if self.kind == "choice":
            if value not in self.choices:
                raise _error(criterion, self, value)
            return value
        return self._check_class_vector(criterion, value, num_labels)

    def _check_float(self, criterion: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error(criterion, self, value)
        value = float(value)
        too_low = self.low is not None and value < self.low
        too_high = self.high is not None and (
            value > self.high if self.high_inclusive else value >= self.high
        )
        if not math.isfinite(value) or too_low or too_high:
            raise _error(criterion, self, value)
        return value

    def _check_class_vector(
        self, criterion: str, value: Any, num_labels: int
    ) -> str | torch.Tensor | None:
        if value is None or (isinstance(value, str) and value in self.choices):
            return value
        if isinstance(value, str) or not isinstance(value, Sequence | torch.Tensor):
            raise _error(criterion, self, value)
        try:
            vector = torch.as_tensor(value, dtype=torch.float64).flatten()
        except (TypeError, ValueError):
            raise _error(criterion, self, value) from None
        if vector.numel() != num_labels:
            raise ValueError(
                f"{criterion}: {self.name} must have one entry per class ({num_labels}), "
                f"but got {vector.numel()}"
            )
        if not bool(torch.isfinite(vector).all()) or bool((vector < 0).any()):
            raise ValueError(
                f"{criterion}: {self.name} entries must be finite and >= 0, but got {value!r}"
            )
        return vector


def _error(criterion: str, spec: ParamSpec, value: Any) -> ValueError:
    return ValueError(f"{criterion}: {spec.name} must be {spec.range_text}, but got {value!r}")
