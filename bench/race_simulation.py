"""The seed race where the truth is known: its false-claim rate and its operating characteristics.

    python bench/race_simulation.py [--draws 20000] [--quick]

Scores are simulated in units of one run's seed sd, with micro_f1's direction, a margin of 2 sd
and looks at 3, 5, 7 and 10 seeds; ``search.confirmation.race.race`` itself runs every race, drawing
from a pre-generated score table. Prints three markdown tables:

1. The false-claim rate (any "better" where a is not better, any "equivalent" where the true gap
   is >= margin) of every setting the issue lists: k = 2..6 equal criteria; one better by 0.5,
   1, 2, 4 sd; true gaps exactly at the margin; a seed effect shared by all criteria (3 sd);
   Student t3 noise (scaled to sd 1); one criterion 3x noisier. And the worst of them.
2. Operating characteristics against fixed designs on the same scores: the probability of each
   decision (winner right or wrong, all equivalent, undecided), mean seeds per criterion and
   mean total runs, and their mean over the mix of those cases.
3. Why no pooled variance: a two-way-ANOVA pooled variance against the per-pair one when one
   criterion is 3x noisier, at a true gap of exactly the margin.

``--quick`` (200 draws) only checks the plumbing; the test suite runs it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

# Run as `python bench/race_simulation.py`: put the repository root first on sys.path.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from search.confirmation.race import RaceResult, race  # noqa: E402
from search.confirmation.statistics import rank_criteria  # noqa: E402

MARGIN = 2.0  # seed sds
LOOKS = (3, 5, 7, 10)
ALPHA = 0.05
METRIC = "micro_f1"
SEED_EFFECT_SD = 3.0  # shared by every criterion on a seed: data order and initialisation


@dataclass(frozen=True)
class Setting:
    """A known truth: true means and seed sds per criterion (in seed sds) and the noise kind."""

    name: str
    means: tuple[float, ...]
    noise: str = "normal"  # "normal", "seed_effect" (plus a shared seed effect) or "t3"
    sds: tuple[float, ...] | None = None  # None: every criterion has seed sd 1

    @property
    def criteria(self) -> list[str]:
        return [f"c{index}" for index in range(len(self.means))]


def _equal(k: int, noise: str = "normal") -> Setting:
    return Setting(f"{k} equal, {noise}", (0.0,) * k, noise)


ERROR_SETTINGS = [
    *(_equal(k) for k in range(2, 7)),
    _equal(4, "seed_effect"),
    _equal(4, "t3"),
    Setting("3 equal, one 3x noisier", (0.0, 0.0, 0.0), sds=(1.0, 1.0, 3.0)),
    *(Setting(f"one {gap:g} sd ahead of 2", (gap, 0.0, 0.0)) for gap in (0.5, 1.0, 2.0, 4.0)),
    Setting("one 2 sd ahead of 2, seed_effect", (2.0, 0.0, 0.0), "seed_effect"),
    Setting("one 2 sd ahead of 2, t3", (2.0, 0.0, 0.0), "t3"),
    Setting("one 2 sd ahead, it 3x noisier", (2.0, 0.0, 0.0), sds=(3.0, 1.0, 1.0)),
    Setting("gap = +margin, 2", (MARGIN, 0.0)),
    Setting("gap = -margin, 2", (0.0, MARGIN)),
    Setting("gaps = ±margin, 3", (0.0, MARGIN, -MARGIN)),
    Setting("gap = margin, seed_effect", (MARGIN, 0.0), "seed_effect"),
    Setting("gap = margin, t3", (MARGIN, 0.0), "t3"),
    Setting("gap = margin, 3x noisier", (0.0, 0.0, MARGIN), sds=(1.0, 1.0, 3.0)),
]
OC_SETTINGS = [
    _equal(2),
    _equal(4),
    *(Setting(f"one {gap:g} sd ahead of 2", (gap, 0.0, 0.0)) for gap in (0.5, 1.0, 2.0, 4.0)),
    Setting("gap = margin, 2", (MARGIN, 0.0)),
    Setting("3 equal, one 3x noisier", (0.0, 0.0, 0.0), sds=(1.0, 1.0, 3.0)),
]


def scores(setting: Setting, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, k, max(LOOKS)) simulated seed scores: truth + noise."""
    shape = (draws, len(setting.means), LOOKS[-1])
    if setting.noise == "t3":  # variance 3: scaled so that one run's seed sd is still 1
        noise = rng.standard_t(3, size=shape) / math.sqrt(3.0)
    else:
        noise = rng.standard_normal(shape)
    if setting.sds is not None:
        noise *= np.array(setting.sds)[None, :, None]
    if setting.noise == "seed_effect":
        noise += SEED_EFFECT_SD * rng.standard_normal((draws, 1, LOOKS[-1]))
    return noise + np.array(setting.means)[None, :, None]


def drawer(setting: Setting, table: np.ndarray) -> Callable:
    """``draw`` for ``race``, reading one simulated (k, seeds) table."""
    rows = dict(zip(setting.criteria, table.tolist(), strict=True))
    return lambda batch: {(criterion, seed): rows[criterion][seed - 1] for criterion, seed in batch}


def false_claim(result: RaceResult, setting: Setting, margin: float = MARGIN) -> bool:
    """Whether any claim contradicts the truth (higher is better)."""
    truth = dict(zip(setting.criteria, setting.means, strict=True))
    for claim in result.claims:
        gap = truth[claim.a] - truth[claim.b]
        if (claim.kind == "better" and gap <= 0) or (
            claim.kind == "equivalent" and abs(gap) >= margin
        ):
            return True
    return False


def run_races(
    setting: Setting, table: np.ndarray, looks: Sequence[int] = LOOKS, alpha: float = ALPHA
) -> list[RaceResult]:
    """``race`` on every draw of ``table`` (draws, k, seeds)."""
    return [
        race(
            setting.criteria,
            drawer(setting, one),
            metric=METRIC,
            baseline=setting.criteria[0],
            margin=MARGIN,
            looks=looks,
            alpha=alpha,
        )
        for one in table
    ]


def false_claim_rate(setting: Setting, table: np.ndarray, **kwargs) -> float:
    return float(np.mean([false_claim(r, setting) for r in run_races(setting, table, **kwargs)]))


@dataclass(frozen=True)
class Operating:
    """How one design does on one setting."""

    right_winner: float
    wrong_winner: float
    equivalent: float
    undecided: float
    false_claim: float
    seeds: float  # mean seeds per criterion
    runs: float  # mean total runs

    @property
    def decided(self) -> float:
        return self.right_winner + self.wrong_winner + self.equivalent


def operating(setting: Setting, table: np.ndarray, looks: Sequence[int]) -> Operating:
    results = run_races(setting, table, looks)
    best = setting.criteria[int(np.argmax(setting.means))]
    unique = sorted(setting.means)[-1] > sorted(setting.means)[-2]
    winners = [r.running[0] if r.decision == "winner" else None for r in results]
    runs = np.array([sum(r.seeds.values()) for r in results], dtype=float)
    return Operating(
        right_winner=float(np.mean([w is not None and unique and w == best for w in winners])),
        wrong_winner=float(
            np.mean([w is not None and not (unique and w == best) for w in winners])
        ),
        equivalent=float(np.mean([r.decision == "equivalent" for r in results])),
        undecided=float(np.mean([r.decision == "undecided" for r in results])),
        false_claim=float(np.mean([false_claim(r, setting) for r in results])),
        seeds=float(runs.mean() / len(setting.means)),
        runs=float(runs.mean()),
    )


def today(setting: Setting, table: np.ndarray, seeds: int = 5) -> Operating:
    """Today's confirmation: ``rank_criteria`` at a fixed seed count; it only says 'beats'."""
    best = int(np.argmax(setting.means))
    unique = sorted(setting.means)[-1] > sorted(setting.means)[-2]
    right = wrong = false = 0
    for one in table:
        rows = zip(setting.criteria, one.tolist(), strict=True)
        ranking = rank_criteria({name: dict(enumerate(row[:seeds], 1)) for name, row in rows})
        leader = int(ranking.leader[1:])
        false += any(
            c.significant and setting.means[leader] <= setting.means[int(c.other[1:])]
            for c in ranking.comparisons
        )
        if all(c.significant for c in ranking.comparisons):
            right += unique and leader == best
            wrong += not (unique and leader == best)
    draws, k = len(table), len(setting.means)
    return Operating(right / draws, wrong / draws, 0.0, 1 - (right + wrong) / draws,
                     false / draws, float(seeds), float(seeds * k))  # fmt: skip


def pooled_versus_paired(draws: int, rng: np.random.Generator) -> tuple[float, float]:
    """False "equivalent" rate at 10 seeds, one look, Bonferroni TOST over 15 pairs: five
    criteria at 0 with sd 1 and one at +margin with sd 3; pooled two-way-ANOVA variance vs
    the per-pair paired variance."""
    k, n = 6, LOOKS[-1]
    setting = Setting("pooled", (0.0,) * 5 + (MARGIN,), sds=(1.0,) * 5 + (3.0,))
    x = scores(setting, draws, rng)
    residual = x - x.mean(axis=2, keepdims=True) - x.mean(axis=1, keepdims=True)
    residual += x.mean(axis=(1, 2), keepdims=True)
    pooled = (residual**2).sum(axis=(1, 2)) / ((k - 1) * (n - 1))
    level = ALPHA / (k * (k - 1) // 2)
    gap = x[:, 5:] - x[:, :5]  # (draws, 5 quiet, n): the noisy one against each quiet one
    centre = gap.mean(axis=2)
    paired_error = gap.std(axis=2, ddof=1) / math.sqrt(n)
    pooled_error = np.sqrt(2 * pooled / n)[:, None]
    rates = []
    for error, df in ((pooled_error, (k - 1) * (n - 1)), (paired_error, n - 1)):
        quantile = special.stdtrit(df, 1 - level)
        inside = (np.abs(centre) + quantile * error) < MARGIN
        rates.append(float(inside.any(axis=1).mean()))
    return rates[0], rates[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=20000, help="simulated races per setting")
    parser.add_argument("--quick", action="store_true", help="200 draws: plumbing only")
    args = parser.parse_args(argv)
    draws = 200 if args.quick else args.draws
    if draws < 1:
        print(f"error: --draws must be >= 1, but got {draws}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(20261206)
    print(f"{draws} draws per setting; margin {MARGIN:g} seed sd; looks {list(LOOKS)}; "
          f"alpha {ALPHA}\n")  # fmt: skip
    _print_errors(draws, rng)
    _print_operating(draws, rng)
    pooled, paired = pooled_versus_paired(draws, rng)
    print(
        "\nFalse 'equivalent', 6 criteria, one 3x noisier at +margin, fixed 10 seeds: "
        f"pooled two-way-ANOVA variance {pooled:.4f}, per-pair paired variance {paired:.4f}"
    )
    return 0


def _print_errors(draws: int, rng: np.random.Generator) -> None:
    rates = {s.name: false_claim_rate(s, scores(s, draws, rng)) for s in ERROR_SETTINGS}
    print("| setting | false-claim rate |\n|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.4f} |")
    worst = max(rates, key=rates.__getitem__)
    error = math.sqrt(ALPHA * (1 - ALPHA) / draws)
    print(f"\nWorst false-claim rate: {rates[worst]:.4f} ({worst}); Monte Carlo se at 5 %: "
          f"{error:.4f}\n")  # fmt: skip


DESIGNS = {
    "race 3,5,7,10": LOOKS,
    "race 3,5": (3, 5),
    "fixed 5": (5,),
    "fixed 10": (10,),
}


def _print_operating(draws: int, rng: np.random.Generator) -> None:
    print(
        "| setting | design | right winner | wrong winner | equivalent | undecided "
        "| false claim | seeds / criterion | total runs |\n|---|---|---|---|---|---|---|---|---|"
    )
    mix: dict[str, list[Operating]] = {}
    for setting in OC_SETTINGS:
        table = scores(setting, draws, rng)
        rows = {name: operating(setting, table, looks) for name, looks in DESIGNS.items()}
        rows["today, fixed 5"] = today(setting, table)
        for name, row in rows.items():
            mix.setdefault(name, []).append(row)
            print(_row(setting.name, name, row))
    for name, rows in mix.items():
        mean = Operating(*(float(np.mean([getattr(r, f) for r in rows])) for f in _FIELDS))
        print(_row("**mix** (mean of the above)", name, mean))


_FIELDS = (
    "right_winner",
    "wrong_winner",
    "equivalent",
    "undecided",
    "false_claim",
    "seeds",
    "runs",
)


def _row(setting: str, design: str, row: Operating) -> str:
    rates = " | ".join(f"{getattr(row, f):.3f}" for f in _FIELDS[:5])
    return f"| {setting} | {design} | {rates} | {row.seeds:.2f} | {row.runs:.2f} |"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
