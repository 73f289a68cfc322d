"""Race criteria over paired seeds: stop a loser early, and say "better" or "within a margin".

``race`` asks ``draw`` for seeds in batches (a look: every still-running criterion reaches the
look's seed count), compares every pair of running criteria PAIRED on seed after each look,
stops giving seeds to a criterion once another is shown better, and stops when every pair of
running criteria is decided or at the last look. A pair ends as one of three claims: ``better``
(its interval excludes 0), ``equivalent`` (its equivalence interval lies inside (-margin,
margin): the two one-sided tests, TOST) or ``undecided``.

Design: repeated confidence intervals, Bonferroni over all k(k-1)/2 pairs, and over the looks
an alpha-spending split of each pair's share: look l spends alpha/pairs * ((n_l/n_L)**2 -
(n_{l-1}/n_L)**2) (the Lan-DeMets power family with rho = 2, on information n_l / n_L, added
up by the union bound, no joint calculation). At look l, with the paired t of the n_l
per-seed differences, a pair's "better" interval is the two-sided interval at that look's
spent level, and its equivalence interval the one-sided one (twice as wide a tail, i.e.
TOST at the spent level).

Why this controls every claim. Fix a pair with true difference d. A false claim needs, at some
look: d = 0 and the two-sided interval missing 0 (either side); or d > 0 and an upper bound
below d (a false "b better", or a false "equivalent" when d >= margin: the equivalence bound is
the tighter one, so both events lie in "the equivalence upper bound < d"). Each look's event
has probability at most its spent level (exact for the paired t with normal differences), so
the pair errs with probability <= alpha / pairs summed over the looks it could reach, and the
race with probability <= alpha, whichever looks it stops at and whichever criteria it drops:
the claims it makes are a subset of those the same intervals would allow had every criterion
run to the last look. Seeds are shared, so a criterion's scores are the same whoever else is
asked, which that argument needs.

Why these choices (a one-off simulation of 400,000 null sequences of looks 3, 5, 7, 10):
- Union bound over looks, not an exact joint boundary: the paired t at 3, 5, 7, 10 seeds are
  correlated, but heavy-tailed at 2..9 df; the exact constant-level boundary at 5 % has
  critical values 7.73, 3.98, 3.30, 2.95 against the union bound's 8.86, 4.31, 3.52, 3.11
  (the union bound's true level is 3.9 %). Too little to pay for a simulated boundary.
- rho = 2 spends little at 3 seeds, where 2 degrees of freedom leave a t quantile near 10
  anyway, and most at the last look. For two equal criteria (margin 2 seed sd) the
  equivalence rule alone (100,000 draws) ends "equivalent" 96 % of the time with rho = 2 and
  TOST, 89 % with rho = 2 and the two-sided interval, 90 % with an equal split over looks and
  97 % with rho = 3, at 0.3 more seeds on average; the whole race says it 93.5 % of the time.
- TOST for "equivalent", not the two-sided interval: where equivalence can be false
  (|d| >= margin) only one side can err, so the one-sided level is sound and the same
  argument holds.
- One paired t per pair, no pooled variance: the two-way-ANOVA pooled variance estimates the
  MEAN seed variance of the criteria, so for a pair with a criterion 3x noisier than two others
  it under-estimates the difference's variance by a quarter and says "equivalent" too often at
  the margin: six criteria, one 3x noisier at +margin from the five others, 10 seeds, false
  "equivalent" 4.7 % pooled against 0.4 % per pair, where those five comparisons may use
  only 1.7 % (``bench/race_simulation.py``). A per-pair variance needs no such assumption.

Claims are sticky: a claim made at one look stands (the union bound already paid for it),
except that "equivalent" becomes "better" when a later look shows that too. "Better" claims of
one look follow the order of the running criteria's means (their seeds are the same), so no
chain of them is circular and at least one criterion keeps running.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

import numpy as np
from scipy import special

from search.confirmation.race_verdict import headline
from trainable.common.directions import direction

Kind = Literal["better", "equivalent", "undecided"]
Draw = Callable[[Sequence[tuple[str, int]]], Mapping[tuple[str, int], float]]
SPENDING_POWER = 2.0  # rho of the spending function alpha * (n / n_last) ** rho


@dataclass(frozen=True)
class Claim:
    """What the race says about criteria ``a`` and ``b``, oriented so that ``a`` leads.

    ``difference`` is mean(a) - mean(b) over the pair's paired seeds, in the metric's direction
    (positive: ``a`` is better, so lower loss for a "min" metric). ``low``..``high`` is the
    interval that decided: for "equivalent" the TOST interval inside (-margin, margin), else the
    two-sided simultaneous interval (for "better" it excludes 0)."""

    a: str
    b: str
    kind: Kind
    difference: float
    low: float
    high: float


@dataclass(frozen=True)
class RaceResult:
    """The claims of every pair, the seeds each criterion got, and the looks the race took."""

    claims: list[Claim]
    seeds: dict[str, int]
    looks_used: int
    metric: str
    baseline: str
    margin: float
    alpha: float
    means: dict[str, float]  # over each criterion's own seeds
    # (a, b) of each undecided claim between running criteria: roughly the seeds per criterion
    # that would decide it, were its last observed difference and sd the truth
    seeds_to_decide: dict[tuple[str, str], int]

    @property
    def running(self) -> list[str]:
        """Criteria never shown worse than another, best mean first."""
        losers = {claim.b for claim in self.claims if claim.kind == "better"}
        alive = [criterion for criterion in self.seeds if criterion not in losers]
        return sorted(alive, key=lambda criterion: -self._sign * self.means[criterion])

    @property
    def decision(self) -> Literal["winner", "equivalent", "undecided"]:
        """ "winner": one criterion left running, so better than every other (directly or through
        the criterion that beat it); "equivalent": those left are all within the margin."""
        running = self.running
        if len(running) == 1:
            return "winner"
        left = [claim for claim in self.claims if {claim.a, claim.b} <= set(running)]
        return "equivalent" if all(c.kind == "equivalent" for c in left) else "undecided"

    @property
    def _sign(self) -> float:
        return 1.0 if direction(self.metric) == "max" else -1.0

    def verdict(self, *, labels: Mapping[str, str] | None = None) -> str:
        """The headline: the winner, the baseline within the margin, or what is undecided."""
        return headline(self, dict(labels or {}))


def race(
    criteria: Sequence[str],
    draw: Draw,
    *,
    metric: str,
    baseline: str,
    margin: float,
    looks: Sequence[int],
    alpha: float = 0.05,
) -> RaceResult:
    """Race ``criteria`` over seeds 1, 2, ... asked from ``draw`` look by look (module docstring).

    ``draw`` gets a batch of ``(criterion, seed)`` pairs, each asked at most once and seeds in
    order, and returns their scores on ``metric`` (whose direction says which way is better).
    ``looks`` are the seed counts at which to decide, strictly increasing, the first >= 2;
    ``margin`` (> 0, in the metric's units) is the gap below which two criteria count as
    equivalent; the chance of any false claim is at most ``alpha``."""
    names = _checked(criteria, metric, baseline, margin, looks, alpha)
    sign = 1.0 if direction(metric) == "max" else -1.0
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    bounds = _critical_values(tuple(looks), len(pairs), alpha)
    scores: list[list[float]] = [[] for _ in names]
    running = list(range(len(names)))
    claims: dict[tuple[int, int], Claim] = {}
    last: dict[tuple[int, int], tuple[float, float, int]] = {}  # mean, sd, seeds at last look
    used = 0
    for (wide, tight), seeds in zip(bounds, looks, strict=True):
        used += 1
        _draw_up_to(draw, names, scores, running, seeds)
        live = [(i, j) for i, j in pairs if i in running and j in running]
        values = sign * np.array([scores[i][:seeds] for i in running])
        row = {criterion: index for index, criterion in enumerate(running)}
        differences = values[[row[i] for i, _ in live]] - values[[row[j] for _, j in live]]
        centres, sds = differences.mean(axis=1), differences.std(axis=1, ddof=1)
        losers = set()
        for (i, j), centre, sd in zip(live, centres.tolist(), sds.tolist(), strict=True):
            last[(i, j)] = (centre, sd, seeds)
            claim = _claim(names[i], names[j], centre, sd / math.sqrt(seeds), wide, tight, margin)
            earlier = claims.get((i, j))
            if earlier is None or earlier.kind == "undecided" or claim.kind == "better":
                claims[(i, j)] = claim
            if claims[(i, j)].kind == "better":
                losers.add(names.index(claims[(i, j)].b))
        running = [index for index in running if index not in losers]
        open_pairs = [(i, j) for i, j in pairs if i in running and j in running]
        if all(claims[pair].kind != "undecided" for pair in open_pairs):
            break
    return RaceResult(
        claims=[claims[pair] for pair in pairs],
        seeds={name: len(scores[index]) for index, name in enumerate(names)},
        looks_used=used,
        metric=metric,
        baseline=baseline,
        margin=float(margin),
        alpha=float(alpha),
        means={
            name: math.fsum(scores[index]) / len(scores[index]) for index, name in enumerate(names)
        },
        seeds_to_decide={
            (claims[pair].a, claims[pair].b): _seeds_to_decide(*last[pair], bounds[-1], margin)
            for pair in pairs
            if set(pair) <= set(running) and claims[pair].kind == "undecided"
        },
    )


def _checked(
    criteria: Sequence[str],
    metric: str,
    baseline: str,
    margin: float,
    looks: Sequence[int],
    alpha: float,
) -> list[str]:
    """The criteria as a list; ValueError stating the rule and the value received."""
    names = list(criteria)
    direction(metric)  # unknown metric: ValueError listing the known ones
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"criteria must be at least 2 distinct names, but got {names!r}")
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} must be one of the criteria {names!r}")
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a finite number > 0, but got {margin!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, but got {alpha!r}")
    seeds = list(looks)
    if not seeds:
        raise ValueError("looks must name at least one seed count, but got none")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in seeds):
        raise ValueError(f"looks must be whole seed counts, but got {seeds!r}")
    if seeds[0] < 2 or any(later <= earlier for earlier, later in pairwise(seeds)):
        raise ValueError(f"looks must increase strictly from at least 2 seeds, but got {seeds!r}")
    return names


@lru_cache(maxsize=64)
def _critical_values(looks: tuple[int, ...], pairs: int, alpha: float) -> list[tuple[float, float]]:
    """Per look: the paired-t quantiles of the two-sided and of the one-sided (TOST) interval."""
    last = looks[-1]
    spent = [alpha / pairs * (n / last) ** SPENDING_POWER for n in looks]
    levels = [later - earlier for earlier, later in pairwise([0.0, *spent])]
    return [
        (float(special.stdtrit(n - 1, 1 - level / 2)), float(special.stdtrit(n - 1, 1 - level)))
        for n, level in zip(looks, levels, strict=True)
    ]


def _draw_up_to(
    draw: Draw, names: list[str], scores: list[list[float]], running: list[int], seeds: int
) -> None:
    """Ask ``draw`` for every running criterion's missing seeds up to ``seeds``, in order."""
    batch = [(names[i], seed) for i in running for seed in range(len(scores[i]) + 1, seeds + 1)]
    got = draw(batch)
    for name, seed in batch:
        if (name, seed) not in got:
            raise ValueError(f"draw returned no score for criterion {name!r}, seed {seed}")
        value = float(got[(name, seed)])
        if not math.isfinite(value):
            raise ValueError(f"criterion {name!r}, seed {seed}: score {value!r} is not finite")
        scores[names.index(name)].append(value)


def _claim(
    first: str, second: str, centre: float, error: float, wide: float, tight: float, margin: float
) -> Claim:
    """The pair's claim at one look from its mean paired difference (first - second, oriented)."""
    a, b, centre = (first, second, centre) if centre >= 0 else (second, first, -centre)
    low, high = centre - wide * error, centre + wide * error
    if low > 0:
        return Claim(a, b, "better", centre, low, high)
    near_low, near_high = centre - tight * error, centre + tight * error
    if -margin < near_low and near_high < margin:
        return Claim(a, b, "equivalent", centre, near_low, near_high)
    return Claim(a, b, "undecided", centre, low, high)


def _seeds_to_decide(
    centre: float, sd: float, seeds: int, bounds: tuple[float, float], margin: float
) -> int:
    """Seeds at which the last look's quantiles would decide, were ``centre`` and ``sd`` true:
    "better" once the interval clears 0, "equivalent" once it fits inside the margin."""
    wide, tight = bounds
    gap = abs(centre)
    needed = [(wide * sd / gap) ** 2 if gap > 0 else math.inf]
    if gap < margin:
        needed.append((tight * sd / (margin - gap)) ** 2)
    return max(seeds + 1, math.ceil(min(needed)))
