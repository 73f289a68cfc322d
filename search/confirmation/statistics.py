"""Which confirmed criterion is best, and how sure is that? Paired, family-wise seed statistics.

``rank_criteria`` judges a fixed number of seeds; ``race`` (from ``search.confirmation.race``) draws
seeds look by look, drops clear losers and can also say "equivalent within a margin".

The confirmation stage re-trains the best configuration of each top criterion with the SAME
training seeds 1..N, so scores of different criteria on one seed share that seed's data order and
initialisation. Each pair of criteria is therefore compared PAIRED on seed: a paired-t interval
of the per-seed differences (over the seeds both have), which removes the shared seed effect.

Several comparisons are made and the leader is picked from the same scores, so one interval at
95 % is not 95 % sure of anything: with k criteria the leader-vs-last gap is the range of k
means. The intervals are Bonferroni-split over ALL k(k-1)/2 pairs (each at 1 - (1-level)/(k(k-1)/2),
two-sided). They then cover every pairwise difference simultaneously with probability >= level,
whichever criterion turns out to lead, so "any false 'X beats Y'" has probability <= 1 - level.
A comparison is significant exactly when its printed interval excludes 0 (the interval printed
is the simultaneous one that decides); ``p_value`` is the Bonferroni-adjusted paired-t p-value.

Measured with 20,000 null draws per setting (all criteria equal, leader picked from the same
scores), k = 2..6 criteria x n = 3..10 seeds, level 0.95; worst setting per noise kind of the
family-wise rate (any leader comparison significant). Noise: independent normal; plus a seed
effect shared by all criteria (sd 3x the noise); Student t with 3 df; unequal seed sds
(0.4..2.5, plus the seed effect); one criterion 5x noisier than the rest.

==================================  ======  ===========  =====  =======  =========
method                              normal  seed effect  t3     unequal  one noisy
==================================  ======  ===========  =====  =======  =========
paired t, Bonferroni, all pairs     .052    .053         .044   .053     .051
Holm over the k-1 leader pairs      .096    .100         .063   .072     .062
Hsu MCB (one-sided, k-1 pairs)      .170    .175         .125   .130     .114
Tukey HSD, pooled two-way ANOVA     .054    .053         .047   .093     .155
Games-Howell-like q/sqrt2, paired   .105    .107         .073   .092     .080
one-sided leader vs runner-up, 5 %  .105    .104         .091   .104     .103
==================================  ======  ===========  =====  =======  =========

The chosen method's worst cases are all k = 2, where it is the exact paired t at 5 % (the
excess is Monte Carlo noise, se .0015); at k = 6 it is conservative (.017-.027). Holm over the
leader's comparisons and MCB ignore that the leader was chosen from the same scores (MCB also
only promises "not worse", so exact ties count against it); pooled ANOVA breaks when criteria
have different seed sds (0.78 vs 0.20 in one measured quickstart confirmation); a studentized-range
critical value is too liberal with 2..9 df per pair; a within-seed permutation test has only
2**5 relabelings at 5 seeds x 2 criteria (minimum two-sided p 1/16). The old independent
bootstrap said "better" for identical criteria 19 % of the time at 3 seeds (11 % at 5) and,
ignoring the pairing, drowned real gaps in the seed effect.

Power, one criterion 2 seed-sd better, independent noise, correct leader and significant:
with 2 criteria 0.29 at 3 seeds, 0.66 at 5, 0.98 at 10 (Holm and pooled Tukey reduce to the
same paired t at k = 2). The price of Bonferroni shows at k >= 3: at 5 seeds the leader is
shown to beat EVERY other criterion with probability 0.19 (k = 3) and 0.001 (k = 6), against
0.51 and 0.22 for pooled Tukey, which is not valid when seed sds differ; beating at least
one other: 0.57 and 0.41. Confirm few criteria, or more seeds (k = 6, 10 seeds: 0.29 / 0.96).

A pair with fewer than 2 common seeds has no variance estimate: its interval is infinite
(-inf, inf), its p-value 1, and it is never significant. Identical per-seed differences (sd 0)
give a zero-width interval at that difference: significant iff it is nonzero. ``difference``
is the difference of the criteria's means over all their seeds; the interval is centred on the
mean paired difference over the common seeds, the same number when no run is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from scipy import special

from search.confirmation.race import Claim, RaceResult, race

__all__ = ["Claim", "Comparison", "RaceResult", "Ranking", "mean_sd", "race", "rank_criteria"]

_MODES = {"max": 1.0, "min": -1.0}


@dataclass(frozen=True)
class Comparison:
    """The leader against ``other``, oriented so that positive means "the leader is better"."""

    other: str
    difference: float  # mean(leader) - mean(other) for "max", the reverse for "min"; >= 0
    low: float  # simultaneous interval of the paired difference, same orientation
    high: float
    significant: bool  # exactly: the interval excludes 0
    p_value: float  # paired t, Bonferroni-adjusted over all k(k-1)/2 pairs
    seeds: int  # paired seeds used


@dataclass(frozen=True)
class Ranking:
    """Criteria by mean in the metric's direction, and the leader against each of the others."""

    leader: str
    mode: str
    level: float
    means: dict[str, float]
    sds: dict[str, float]
    seeds: dict[str, int]
    comparisons: tuple[Comparison, ...]  # leader vs every other criterion, best-first by mean

    def verdict(
        self,
        *,
        baseline: str | None = None,
        labels: Mapping[str, str] | None = None,
        metric: str = "micro-F1",
    ) -> str:
        """The report's sentence: against ``baseline`` when it was confirmed, else the runner-up."""
        names = dict(labels or {})
        say = _Say(self, lambda criterion: names.get(criterion, criterion), metric)
        if not self.comparisons:
            return say.alone()
        if baseline is None or baseline not in self.means:
            return say.without_baseline()
        if baseline == self.leader:
            return say.baseline_leads()
        return say.against_baseline(baseline)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample sd (ddof=1); sd 0.0 for one value or all equal, (nan, nan) for none.

    Plain Python, not numpy: on a handful of seeds it is ten times faster, which the
    simulation tests of this module need."""
    numbers = [float(value) for value in values]
    if not numbers:
        return math.nan, math.nan
    if min(numbers) == max(numbers):
        return numbers[0], 0.0
    mean = math.fsum(numbers) / len(numbers)
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1))


def rank_criteria(
    scores: Mapping[str, Mapping[int, float]], *, mode: str = "max", level: float = 0.95
) -> Ranking:
    """Rank criteria by mean seed score and compare the leader with each other one, paired on seed.

    ``scores[criterion][seed]`` is one confirmation run's score; ``mode`` is "max" when higher
    is better, "min" when lower is. Ties in the mean go to the criterion given first."""
    if mode not in _MODES:
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, not {level!r}")
    clean = _validated(scores)
    sign = _MODES[mode]
    stats = {criterion: mean_sd(list(runs.values())) for criterion, runs in clean.items()}
    order = sorted(clean, key=lambda criterion: -sign * stats[criterion][0])  # stable: ties keep
    leader = order[0]
    pairs = len(order) * (len(order) - 1) // 2
    comparisons = tuple(
        _compare(clean[leader], clean[other], other, sign, stats, leader, level, pairs)
        for other in order[1:]
    )
    return Ranking(
        leader=leader,
        mode=mode,
        level=level,
        means={criterion: stats[criterion][0] for criterion in order},
        sds={criterion: stats[criterion][1] for criterion in order},
        seeds={criterion: len(clean[criterion]) for criterion in order},
        comparisons=comparisons,
    )


def _validated(scores: Mapping[str, Mapping[int, float]]) -> dict[str, dict[int, float]]:
    """Float scores per criterion; ValueError naming the criterion for empty or non-finite."""
    if not scores:
        raise ValueError("no criteria to rank: scores is empty")
    clean: dict[str, dict[int, float]] = {}
    for criterion, runs in scores.items():
        if not runs:
            raise ValueError(f"criterion {criterion!r} has no scores")
        clean[criterion] = {}
        for seed, value in runs.items():
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(
                    f"criterion {criterion!r}, seed {seed}: score {value!r} is not finite"
                )
            clean[criterion][seed] = number
    return clean


def _compare(
    leader_runs: dict[int, float],
    other_runs: dict[int, float],
    other: str,
    sign: float,
    stats: dict[str, tuple[float, float]],
    leader: str,
    level: float,
    pairs: int,
) -> Comparison:
    """Paired-t interval of the leader's advantage, Bonferroni over ``pairs`` comparisons."""
    difference = sign * (stats[leader][0] - stats[other][0])
    common = [seed for seed in leader_runs if seed in other_runs]
    if len(common) < 2:
        return Comparison(other, difference, -math.inf, math.inf, False, 1.0, len(common))
    per_seed = [sign * (leader_runs[seed] - other_runs[seed]) for seed in common]
    low, high, p_value = _paired_t(per_seed, (1.0 - level) / pairs)
    return Comparison(
        other, difference, low, high, low > 0 or high < 0, min(1.0, pairs * p_value), len(common)
    )


def _paired_t(differences: list[float], alpha: float) -> tuple[float, float, float]:
    """Two-sided (1 - alpha) t interval of the mean difference and its unadjusted p-value."""
    n = len(differences)
    centre, sd = mean_sd(differences)
    error = sd / math.sqrt(n)
    if error == 0.0:  # identical differences: the interval is the point, certain iff nonzero
        return centre, centre, 1.0 if centre == 0.0 else 0.0
    half = float(special.stdtrit(n - 1, 1.0 - alpha / 2)) * error
    p_value = 2.0 * float(special.stdtr(n - 1, -abs(centre) / error))
    return centre - half, centre + half, p_value


class _Say:
    """Builds the verdict sentence; one method per situation."""

    def __init__(self, ranking: Ranking, label: Callable[[str], str], metric: str) -> None:
        self.r, self.label, self.metric = ranking, label, metric
        self.lead = label(ranking.leader)
        self.unit = metric if ranking.mode == "max" else f"lower {metric}"

    def by(self, comparison: Comparison) -> str:
        """'0.90 micro-F1 (95% CI 0.30..1.50, 5 seeds)'."""
        seeds = f"{comparison.seeds} seed{'s' if comparison.seeds != 1 else ''}"
        if math.isfinite(comparison.low) and math.isfinite(comparison.high):
            interval = f"{self.r.level * 100:g}% CI {comparison.low:.2f}..{comparison.high:.2f}"
        else:
            interval = "no CI: fewer than 2 common seeds"
        return f"{comparison.difference:.2f} {self.unit} ({interval}, {seeds})"

    def alone(self) -> str:
        leader = self.r.leader
        mean, sd, n = self.r.means[leader], self.r.sds[leader], self.r.seeds[leader]
        return (
            f"Only {self.lead} was confirmed ({self.metric} {mean:.2f} ± {sd:.2f} over {n} "
            f"seed{'s' if n != 1 else ''}); nothing was compared."
        )

    def beats_all(self) -> str:
        """'X beats Y by ...' for two criteria, 'X beats every other criterion; runner-up ...'."""
        runner = self.r.comparisons[0]
        if len(self.r.comparisons) == 1:
            return f"{self.lead} beats {self.label(runner.other)} by {self.by(runner)}"
        runner_up = f"runner-up {self.label(runner.other)} by {self.by(runner)}"
        return f"{self.lead} beats every other criterion; {runner_up}"

    def leads(self) -> str:
        """'X leads Y by ...', plus which others are nonetheless significantly worse."""
        runner = self.r.comparisons[0]
        text = f"{self.lead} leads {self.label(runner.other)} by {self.by(runner)}"
        worse = [self.label(c.other) for c in self.r.comparisons if c.significant]
        if worse:
            verb = "is" if len(worse) == 1 else "are"
            text += f"; {', '.join(worse)} {verb} significantly worse than {self.lead}"
        return text

    def all_significant(self) -> bool:
        return all(comparison.significant for comparison in self.r.comparisons)

    def without_baseline(self) -> str:
        if self.all_significant():
            return self.beats_all()
        return f"No criterion is significantly better than the others: {self.leads()}"

    def baseline_leads(self) -> str:
        body = self.beats_all() if self.all_significant() else self.leads()
        return f"No criterion is significantly better than {self.lead}: {body}"

    def against_baseline(self, baseline: str) -> str:
        versus = next(c for c in self.r.comparisons if c.other == baseline)
        base = self.label(baseline)
        if versus.significant:
            return f"{self.lead} beats {base} by {self.by(versus)}"
        return (
            f"No criterion is significantly better than {base}: the best, {self.lead}, "
            f"leads it by {self.by(versus)}"
        )
