"""Is the winner really better? Seed-level scores → mean ± sd, a bootstrap CI, a verdict.

Single-seed differences between criteria on KLUE RE are often <= 0.5 micro-F1, inside seed noise,
so the report re-trains the top criteria with several seeds and compares them here. The interval
is a percentile bootstrap of the difference of means, resampling each criterion's seeds
independently (Efron & Tibshirani 1993); with 3 seeds it is coarse, and the verdict says
"no significant difference" unless the whole interval lies above zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    winner: str
    other: str
    difference: float  # mean(winner) - mean(other)
    low: float
    high: float
    level: float

    @property
    def significant(self) -> bool:
        return self.low > 0

    def verdict(self) -> str:
        interval = f"{self.level:.0%} CI {self.low:+.2f}..{self.high:+.2f}"
        if self.significant:
            return (
                f"{self.winner} is better than {self.other} by {self.difference:.2f} ({interval})"
            )
        return (
            f"no significant difference between {self.winner} and {self.other} "
            f"(difference {self.difference:+.2f}, {interval})"
        )


def mean_sd(scores: list[float]) -> tuple[float, float]:
    values = np.asarray(scores, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def compare(
    winner: str,
    winner_scores: list[float],
    other: str,
    other_scores: list[float],
    *,
    level: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Bootstrap CI of ``mean(winner_scores) - mean(other_scores)``."""
    a = np.asarray(winner_scores, dtype=float)
    b = np.asarray(other_scores, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both criteria need at least one score")
    rng = np.random.default_rng(seed)
    means_a = rng.choice(a, size=(resamples, len(a)), replace=True).mean(axis=1)
    means_b = rng.choice(b, size=(resamples, len(b)), replace=True).mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means_a - means_b, [tail, 100 - tail])
    return Comparison(winner, other, float(a.mean() - b.mean()), float(low), float(high), level)
