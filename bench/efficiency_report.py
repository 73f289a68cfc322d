"""The search-efficiency bench's output: a Markdown table, the paired comparisons in words, and
a PNG of the best score found against the budget (median and range over the search seeds)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from bench.efficiency_stats import CLOSE, StrategySummary, best_so_far
from search.confirmation.statistics import Ranking

if TYPE_CHECKING:
    from bench.efficiency_runs import Run


def table(overall: float, summaries: Sequence[StrategySummary], budget: int) -> str:
    """One row per strategy: best found at a few budgets, and the budget to come close."""
    budgets = list(summaries[0].at_budget)
    head = [
        "strategy", "runs", "trials per run (median)",
        *(f"best after {b} trial-epochs (median [min–max])" for b in budgets),
        f"runs within {CLOSE} of {overall:.2f}", "trial-epochs to get there (median)",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for summary in summaries:
        cells = [
            summary.strategy,
            str(summary.runs),
            f"{summary.trials:g}",
            *(_spread(*summary.at_budget[b]) for b in budgets),
            f"{summary.reached} of {summary.runs}",
            _budget(summary.median_to_reach, budget),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison(ranking: Ranking, budget: int) -> str:
    """'After 30 trial-epochs, X leads (mean ...): vs Y +d (95% CI lo..hi, n seeds), ...'."""
    leader = ranking.leader
    parts = []
    for c in ranking.comparisons:
        verdict = "significant" if c.significant else "not significant"
        interval = (
            f"{ranking.level:.0%} CI {c.low:+.2f}..{c.high:+.2f}"
            if math.isfinite(c.low)
            else "no CI"
        )
        parts.append(f"vs {c.other} {c.difference:+.2f} ({interval}, {c.seeds} seeds: {verdict})")
    return (
        f"After {budget} trial-epochs, {leader} leads (mean {ranking.means[leader]:.2f}): "
        + "; ".join(parts)
    )


def plot(runs: Sequence[Run], budget: int, overall: float, path: Path) -> None:
    """Median best-so-far per strategy with its min–max band over the search seeds."""
    figure, axes = plt.subplots(figsize=(7.0, 4.2))
    x = list(range(1, budget + 1))
    for strategy in dict.fromkeys(run.strategy for run in runs):
        curves = [best_so_far(r.scores, budget) for r in runs if r.strategy == strategy]
        columns = list(zip(*curves, strict=True))
        (line,) = axes.plot(x, [statistics.median(c) for c in columns], label=strategy)
        low, high = [min(c) for c in columns], [max(c) for c in columns]
        axes.fill_between(x, low, high, color=line.get_color(), alpha=0.12)
    axes.axhline(overall - CLOSE, color="grey", linestyle="--", linewidth=0.8,
                 label=f"best any run found − {CLOSE}")  # fmt: skip
    axes.set(
        xlabel="compute spent (trial-epochs)",
        ylabel="best selection micro-F1 so far",
        title=f"Best score found vs budget ({len(runs) // len(set(r.strategy for r in runs))} "
        "search seeds: median, min–max)",
    )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _spread(median: float, low: float, high: float) -> str:
    return f"{median:.2f} [{low:.2f}–{high:.2f}]"


def _budget(median: float | None, budget: int) -> str:
    return f"> {budget} (most runs never)" if median is None else f"{median:g}"
