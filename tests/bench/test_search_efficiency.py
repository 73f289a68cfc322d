"""The search-efficiency bench: its statistics on runs whose answer is known, and its quick mode
end to end (real sweeps on a KLUE slice, every strategy, two search seeds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from bench.efficiency_runs import STRATEGIES, Run
from bench.efficiency_stats import (
    best_so_far,
    budget_to_reach,
    compare_at,
    grid,
    median_curve,
    summarize,
)
from tests.helpers import REPO


def run(strategy: str, seed: int, scores: list[float]) -> Run:
    return Run(strategy=strategy, seed=seed, scores=scores, trials=len(scores), wall_s=0.0)


def test_best_so_far_is_a_running_maximum_held_to_the_budget():
    assert best_so_far([3.0, 1.0, 5.0, 4.0], 4) == [3.0, 3.0, 5.0, 5.0]
    assert best_so_far([3.0, 1.0, 5.0, 4.0], 2) == [3.0, 3.0]
    assert best_so_far([2.0], 3) == [2.0, 2.0, 2.0]  # a run that ended short keeps its best


def test_budget_to_reach_counts_trial_epochs_and_none_when_never():
    assert budget_to_reach([0.0, 9.6, 10.0], 9.5) == 2
    assert budget_to_reach([0.0, 1.0], 9.5) is None
    assert grid(20) == [7, 13, 20]


def test_summary_censors_runs_that_never_came_close_and_measures_against_random():
    runs = [
        run("random", 0, [1.0, 2.0, 3.0, 4.0]),
        run("random", 1, [0.0, 1.0, 2.0, 3.0]),
        run("random", 2, [0.0, 0.0, 0.0, 1.0]),
        run("TPE", 0, [1.0, 4.0, 4.0, 10.0]),
        run("TPE", 1, [2.0, 10.0, 10.0, 10.0]),
        run("TPE", 2, [0.0, 0.0, 9.8, 9.9]),
    ]
    overall, summaries = summarize(runs, 4, reference="random")
    assert overall == 10.0
    by_name = {s.strategy: s for s in summaries}
    assert by_name["random"].reached == 0 and by_name["random"].median_to_reach is None
    assert by_name["TPE"].reached == 3 and by_name["TPE"].median_to_reach == 3
    assert by_name["TPE"].at_budget[4] == (10.0, 9.9, 10.0)
    assert median_curve(runs, "random", 4) == [0.0, 1.0, 2.0, 3.0]
    assert by_name["random"].matches_reference == 4  # its own median reaches itself at the end
    assert by_name["TPE"].matches_reference == 2  # TPE's median [1, 4, 9.8, 10] passes 3 at 2


def test_strategies_are_compared_paired_on_search_seed():
    """A constant gain over a large seed effect is significant only because runs are paired;
    two strategies that differ by noise are not."""
    seed_effect = [0.0, 8.0, -6.0, 3.0, -2.0]
    small = [0.1, -0.1, 0.05, 0.0, -0.05]
    noise = [0.4, -0.3, 0.2, -0.5, 0.1]
    pairs = list(enumerate(zip(seed_effect, small, noise, strict=True)))
    better = [run("A", seed, [11.0 + effect + s]) for seed, (effect, s, _) in pairs]
    baseline = [run("B", seed, [10.0 + effect]) for seed, (effect, _, _) in pairs]
    same = [run("C", seed, [10.0 + effect + n]) for seed, (effect, _, n) in pairs]
    ranking = compare_at([*better, *baseline], 1)
    assert ranking.leader == "A" and ranking.comparisons[0].significant
    assert ranking.comparisons[0].difference == pytest.approx(1.0)
    tie = compare_at([*baseline, *same], 1)
    assert not tie.comparisons[0].significant


@pytest.mark.slow
def test_quick_mode_runs_every_strategy_and_writes_the_table_and_plot(tmp_path, klue_dir):
    command = [sys.executable, "bench/search_efficiency.py", "--quick", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:]

    saved = json.loads((tmp_path / "runs.json").read_text())
    runs = {(r["strategy"], r["seed"]): r for r in saved["runs"]}
    assert set(runs) == {(s.name, seed) for s in STRATEGIES for seed in (0, 1)}
    for scores in (r["scores"] for r in runs.values()):
        assert len(scores) == saved["budget"]  # stopped at the budget, every trial-epoch counted
        assert all(0.0 <= score <= 100.0 and not math.isnan(score) for score in scores)
    table = (tmp_path / "table.md").read_text()
    for strategy in STRATEGIES:
        assert f"| {strategy.name} | 2 | " in table
    assert f"After {saved['budget']} trial-epochs" in table
    assert (tmp_path / "search_efficiency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "efficiency:" not in again.stdout  # every run was kept: nothing trained again
    assert json.loads((tmp_path / "runs.json").read_text())["runs"] == saved["runs"]
