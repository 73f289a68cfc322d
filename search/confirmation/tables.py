"""The confirmation's outcome in words and tables, as the report and ``search.compare`` both
show it: per criterion the seeds and mean ± sd, per pair the claim the race made."""

from __future__ import annotations

import pandas as pd

from search.confirmation.race import RaceResult
from search.confirmation.statistics import mean_sd
from search.markdown import short


def confirmation_table(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per criterion: seeds, mean ± sd of the selection and dev scores."""
    rows = []
    for criterion, group in scores.groupby("criterion", sort=False):
        selection_mean, selection_sd = mean_sd(group[metric].dropna().tolist())
        dev_mean, dev_sd = mean_sd(group[f"dev_{metric}"].dropna().tolist())
        rows.append(
            {
                "criterion": criterion,
                "seeds": len(group),
                f"{metric} mean": selection_mean,
                f"{metric} sd": selection_sd,
                f"dev {metric} mean": dev_mean,
                f"dev {metric} sd": dev_sd,
            }
        )
    return pd.DataFrame(rows)


def claim_lines(result: RaceResult, labels: dict[str, str], metric: str) -> list[str]:
    """One line per pair of confirmed criteria: its difference, the interval that decided it,
    the paired seeds, and the claim (better, equivalent within the margin, or undecided)."""
    level = f"{(1 - result.alpha):.0%}"
    margin = f"{short(result.margin)} {metric}"
    said = {
        "better": "better",
        "equivalent": f"equivalent (within {margin})",
        "undecided": f"undecided (neither better nor within {margin})",
    }
    lines = []
    for claim in result.claims:
        seeds = min(result.seeds[claim.a], result.seeds[claim.b])
        lines.append(
            f"{labels.get(claim.a, claim.a)} vs {labels.get(claim.b, claim.b)}: "
            f"{claim.difference:+.2f} {metric} ({level} simultaneous CI {claim.low:+.2f}.."
            f"{claim.high:+.2f}, {seeds} paired seeds): {said[claim.kind]}"
        )
    return lines
