"""The race's headline: the winner, the baseline with the others within the margin, or what is
still undecided and roughly how many seeds would decide it. Pure text from a ``RaceResult``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # race.py imports this module for RaceResult.verdict
    from search.confirmation.race import Claim, RaceResult


# Beyond this many seeds per criterion the estimate says more about how small the difference
# is than about a run anyone would train.
MANY_SEEDS = 50


def headline(result: RaceResult, labels: dict[str, str]) -> str:
    """One sentence (a few clauses) for the report's top line."""
    say = _Say(result, lambda criterion: labels.get(criterion, criterion))
    running = result.running
    if result.decision == "winner":
        return say.winner(running[0])
    if result.decision == "equivalent":
        return say.equivalent(running)
    left = [claim for claim in result.claims if {claim.a, claim.b} <= set(running)]
    return say.undecided([claim for claim in left if claim.kind == "undecided"])


class _Say:
    """Builds the headline; one method per situation."""

    def __init__(self, result: RaceResult, label: Callable[[str], str]) -> None:
        self.r, self.label = result, label
        self.level = f"{(1 - result.alpha) * 100:g}% CI"
        self.margin = f"{_number(result.margin)} {result.metric}"

    def by(self, claim: Claim) -> str:
        """'1.52 micro_f1 (95% CI 0.40..2.64)'."""
        return (
            f"{claim.difference:.2f} {self.r.metric} "
            f"({self.level} {claim.low:.2f}..{claim.high:.2f})"
        )

    def worse(self, exclude: set[str]) -> str:
        """'; poly1 is worse than focal' for every criterion dropped, '' when none was."""
        beaten = {}
        for claim in self.r.claims:
            if claim.kind == "better" and claim.b not in exclude:
                beaten.setdefault(claim.b, claim.a)
        clauses = [f"{self.label(b)} is worse than {self.label(a)}" for b, a in beaten.items()]
        return f"; {'; '.join(clauses)}" if clauses else ""

    def winner(self, best: str) -> str:
        direct = [c for c in self.r.claims if c.a == best and c.kind == "better"]
        parts = [f"{self.label(c.b)} by {self.by(c)}" for c in direct]
        text = f"Use {self.label(best)}: it is better than {_listed(parts)}"
        return text + self.worse({best, *(c.b for c in direct)})

    def equivalent(self, running: list[str]) -> str:
        if self.r.baseline in running:
            others = [self.label(c) for c in self.r.seeds if c in running and c != self.r.baseline]
            verb = "is" if len(others) == 1 else "are"
            base = self.label(self.r.baseline)
            text = f"Use {base}: {_listed(others)} {verb} within {self.margin} of it"
        else:
            names = [self.label(c) for c in running]
            pick = "Use " + (" or ".join(names) if len(names) == 2 else f"any of {_listed(names)}")
            text = (
                f"{pick}: they are within {self.margin} of each other "
                f"({names[0]} has the better mean)"
            )
        return text + self.worse(set(running))

    def undecided(self, claims: list[Claim]) -> str:
        seeds = self.r.seeds[claims[0].a]
        parts = []
        for claim in claims:
            needed = self.r.seeds_to_decide[(claim.a, claim.b)]
            cost = (
                f"roughly {needed - seeds} more seeds each ({needed} in all) would decide it"
                if needed <= MANY_SEEDS
                else f"more than {MANY_SEEDS} seeds each would be needed to decide it: the "
                "difference is small against the seed noise"
            )
            parts.append(
                f"{self.label(claim.a)} leads {self.label(claim.b)} by {self.by(claim)}, {cost}"
            )
        text = (
            f"Undecided after {seeds} seeds, neither better nor within {self.margin}: "
            f"{'; '.join(parts)}"
        )
        return text + self.worse(set(self.r.running))


def _listed(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _number(value: float) -> str:
    """1.0 -> '1.0', 0.25 -> '0.25', 2.5 -> '2.5'."""
    text = f"{value:.2f}"
    return text[:-1] if text.endswith("0") else text
