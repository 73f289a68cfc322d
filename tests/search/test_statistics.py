"""rank_criteria against simulated seed scores with a known truth, then edge cases and sentences.

The statistical claims (family-wise false positives <= 5 % nominal, power, coverage) are checked
by simulation with a seeded generator; an inline naive method shows the simulation can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from search.confirmation.statistics import mean_sd, rank_criteria

DRAWS = 1000
KINDS = ("normal", "seed_effect", "t3", "unequal_sds")
GRID = [(k, n) for k in (2, 3, 4, 5, 6) for n in (3, 5, 7, 10)]


def _scores(matrix: np.ndarray) -> dict[str, dict[int, float]]:
    """A k x n array as ``{"c0": {1: score, ...}, ...}``: criterion i, seeds 1..n."""
    return {f"c{i}": dict(enumerate(row.tolist(), start=1)) for i, row in enumerate(matrix)}


def _noise(rng: np.random.Generator, kind: str, draws: int, k: int, n: int) -> np.ndarray:
    """(draws, k, n) seed scores of k equal criteria, noise sd 1 unless said otherwise."""
    if kind == "t3":
        return rng.standard_t(3, size=(draws, k, n))
    noise = rng.standard_normal((draws, k, n))
    if kind == "unequal_sds":  # criteria differ in seed sd, as focal (0.78) and ls (0.20) did
        noise *= np.linspace(0.4, 2.5, k)[None, :, None]
    if kind in ("seed_effect", "unequal_sds"):  # data order and init shared by all criteria
        noise += 3.0 * rng.standard_normal((draws, 1, n))
    return noise


def _any_significant_rate(samples: np.ndarray) -> float:
    hits = [any(c.significant for c in rank_criteria(_scores(x)).comparisons) for x in samples]
    return float(np.mean(hits))


def _naive_rate(samples: np.ndarray) -> float:
    """One-sided paired t at 5 % of the leader vs the runner-up, ignoring selection."""
    means = samples.mean(axis=2)
    order = np.argsort(-means, axis=1)
    rows = np.arange(len(samples))
    differences = samples[rows, order[:, 0]] - samples[rows, order[:, 1]]
    n = samples.shape[2]
    t = differences.mean(axis=1) / (differences.std(axis=1, ddof=1) / math.sqrt(n))
    return float(np.mean(t > special.stdtrit(n - 1, 0.95)))


@pytest.mark.parametrize("kind", KINDS)
def test_family_wise_false_positive_rate_is_at_most_nominal_for_equal_criteria(kind):
    rng = np.random.default_rng(20240501 + KINDS.index(kind))
    samples = {(k, n): _noise(rng, kind, DRAWS, k, n) for k, n in GRID}
    rates = {setting: _any_significant_rate(x) for setting, x in samples.items()}
    assert max(rates.values()) <= 0.07, rates
    # not vacuous: with two criteria the paired t is exact, so it does say "beats" ~5 % of the time
    assert min(rates[(2, n)] for n in (3, 5, 10)) >= 0.02, rates
    # and the same draws catch a method that ignores multiplicity and selection
    naive = {setting: _naive_rate(x) for setting, x in samples.items()}
    assert max(naive.values()) > 0.07, naive


@pytest.mark.parametrize("kind", ["normal", "seed_effect"])
def test_two_seed_sd_gap_is_found_at_five_seeds_more_than_half_the_time(kind):
    """Power: paired seeds make the shared seed effect irrelevant (exact power 0.66)."""
    rng = np.random.default_rng(7)
    samples = _noise(rng, kind, DRAWS, 2, 5)
    samples[:, 0] += 2.0  # c0 is truly better by 2 seed-sd
    found = [_found(rank_criteria(_scores(x)), "c0") for x in samples]
    assert np.mean(found) >= 0.5


def test_mode_min_finds_the_lower_criterion():
    rng = np.random.default_rng(8)
    samples = _noise(rng, "normal", DRAWS, 2, 5)
    samples[:, 1] -= 2.0  # c1 has the lower loss
    rankings = [rank_criteria(_scores(x), mode="min") for x in samples]
    assert np.mean([_found(r, "c1") for r in rankings]) >= 0.5
    assert all(r.comparisons[0].difference >= 0 for r in rankings)
    assert rank_criteria(_scores(samples[0]), mode="max").leader == "c0"


def _found(ranking, truth: str) -> bool:
    return ranking.leader == truth and ranking.comparisons[0].significant


def test_intervals_cover_every_true_difference_simultaneously():
    """Unequal true means, seed effect: P(some printed interval misses its truth) <= 5 %."""
    rng = np.random.default_rng(9)
    truth = np.array([0.0, 0.5, 1.0, 1.5])
    samples = _noise(rng, "seed_effect", DRAWS, 4, 5) + truth[None, :, None]
    misses = []
    for x in samples:
        ranking = rank_criteria(_scores(x))
        lead = truth[int(ranking.leader[1:])]
        misses.append(
            any(not c.low <= lead - truth[int(c.other[1:])] <= c.high for c in ranking.comparisons)
        )
    assert np.mean(misses) <= 0.07


def test_significance_p_value_and_interval_always_agree():
    rng = np.random.default_rng(10)
    for x in _noise(rng, "normal", 300, 3, 5) + np.array([0.0, 1.0, 2.5])[None, :, None]:
        for c in rank_criteria(_scores(x)).comparisons:
            assert c.significant == (c.low > 0 or c.high < 0) == (c.p_value < 0.05)
            assert c.low <= c.high and c.difference >= 0 and 0 <= c.p_value <= 1


@pytest.mark.parametrize("k", [2, 3])
def test_interval_is_the_paired_t_interval_at_the_bonferroni_level(k):
    rng = np.random.default_rng(11)
    x = rng.normal(30, 1, size=(k, 6)) + np.arange(k)[:, None]
    ranking = rank_criteria(_scores(x))
    pairs = k * (k - 1) // 2
    for c in ranking.comparisons:
        lead, other = x[int(ranking.leader[1:])], x[int(c.other[1:])]
        test = stats.ttest_rel(lead, other)
        low, high = test.confidence_interval(1 - 0.05 / pairs)
        assert (c.low, c.high) == pytest.approx((low, high))
        assert c.p_value == pytest.approx(min(1.0, pairs * test.pvalue))
        assert c.difference == pytest.approx(lead.mean() - other.mean())


def test_old_readme_example_is_no_longer_called_significant():
    """30.59 ± 0.20 vs 29.49 ± 0.78 over 3 seeds: the old bootstrap said +0.52..+1.94.

    Whatever the seed values, sd(difference) >= 0.78 - 0.20, so t <= 3.3 < t(0.975, 2) = 4.3."""
    rng = np.random.default_rng(12)
    old_said_better = []
    for _ in range(200):
        smoothing, focal = (_with_mean_sd(rng, m, s) for m, s in ((30.59, 0.20), (29.49, 0.78)))
        ranking = rank_criteria({"focal": _by_seed(focal), "label_smoothing": _by_seed(smoothing)})
        assert ranking.leader == "label_smoothing"
        assert not ranking.comparisons[0].significant
        old_said_better.append(_old_bootstrap_low(rng, smoothing, focal) > 0)
    assert np.mean(old_said_better) > 0.5


def _with_mean_sd(rng: np.random.Generator, mean: float, sd: float) -> np.ndarray:
    z = rng.standard_normal(3)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def _by_seed(values: np.ndarray) -> dict[int, float]:
    return dict(enumerate(values.tolist(), start=1))


def _old_bootstrap_low(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> float:
    """The replaced method: seeds of each criterion resampled independently, 2.5 % percentile."""
    means_a = rng.choice(a, size=(2000, len(a))).mean(axis=1)
    means_b = rng.choice(b, size=(2000, len(b))).mean(axis=1)
    return float(np.percentile(means_a - means_b, 2.5))


# --- edge cases -------------------------------------------------------------------------------


def test_a_single_criterion_is_confirmed_but_compared_with_nothing():
    ranking = rank_criteria({"focal": {1: 30.0, 2: 31.0}})
    assert (ranking.leader, ranking.comparisons) == ("focal", ())
    assert (ranking.means, ranking.sds, ranking.seeds) == (
        {"focal": 30.5},
        {"focal": pytest.approx(math.sqrt(0.5))},
        {"focal": 2},
    )
    text = ranking.verdict(baseline="focal", labels={"focal": "focal (γ=1.3)"})
    assert "Only focal (γ=1.3) was confirmed" in text
    assert "nothing was compared" in text
    assert "beats" not in text


@pytest.mark.parametrize(
    ("other", "common"), [({3: 1.0, 4: 2.0}, 0), ({1: 1.0, 4: 2.0}, 1)], ids=["none", "one"]
)
def test_fewer_than_two_common_seeds_give_an_infinite_interval(other, common):
    ranking = rank_criteria({"a": {1: 5.0, 2: 6.0}, "b": other})
    comparison = ranking.comparisons[0]
    assert (comparison.low, comparison.high) == (-math.inf, math.inf)
    assert (comparison.significant, comparison.p_value, comparison.seeds) == (False, 1.0, common)
    assert comparison.difference == pytest.approx(4.0)
    assert "fewer than 2 common seeds" in ranking.verdict()


def test_identical_scores_are_not_significant():
    scores = {1: 50.0, 2: 51.0, 3: 52.5}
    comparison = rank_criteria({"a": scores, "b": dict(scores)}).comparisons[0]
    assert (comparison.difference, comparison.low, comparison.high) == (0.0, 0.0, 0.0)
    assert (comparison.significant, comparison.p_value) == (False, 1.0)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_constant_nonzero_difference_is_significant_with_zero_width(mode):
    lower = {1: 50.0, 2: 51.0, 3: 52.5}
    higher = {seed: value + 0.5 for seed, value in lower.items()}
    ranking = rank_criteria({"lower": lower, "higher": higher}, mode=mode)
    comparison = ranking.comparisons[0]
    assert ranking.leader == ("higher" if mode == "max" else "lower")
    assert (comparison.difference, comparison.low, comparison.high) == (0.5, 0.5, 0.5)
    assert (comparison.significant, comparison.p_value) == (True, 0.0)


def test_ties_go_to_the_first_criterion_and_comparisons_are_best_first():
    a, b = {1: 1.0, 2: 2.0}, {1: 2.0, 2: 1.0}
    assert rank_criteria({"b": b, "a": a}).leader == "b"
    assert rank_criteria({"a": a, "b": b}).leader == "a"
    ranking = rank_criteria({"c": {1: 1.0, 2: 1.5}, "a": {1: 3.0, 2: 3.5}, "b": {1: 2.0, 2: 2.5}})
    assert [c.other for c in ranking.comparisons] == ["b", "c"]
    assert list(ranking.means) == ["a", "b", "c"]
    low_first = rank_criteria({"c": {1: 1.0, 2: 1.5}, "a": {1: 3.0, 2: 3.5}}, mode="min")
    assert (low_first.leader, low_first.comparisons[0].difference) == ("c", 2.0)


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ({}, {}, "empty"),
        ({"ce": {1: 1.0}, "focal": {}}, {}, "'focal' has no scores"),
        ({"ce": {1: 1.0}, "focal": {1: math.nan}}, {}, "'focal', seed 1"),
        ({"ce": {1: 1.0}, "focal": {2: math.inf}}, {}, "'focal', seed 2"),
        ({"ce": {1: 1.0}}, {"mode": "best"}, "mode must be 'max' or 'min'"),
        ({"ce": {1: 1.0}}, {"level": 1.0}, "level"),
    ],
)
def test_bad_input_is_refused_naming_the_criterion(scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rank_criteria(scores, **kwargs)


def test_mean_sd():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([5.0]) == (5.0, 0.0)
    assert mean_sd([0.1, 0.1, 0.1]) == (0.1, 0.0)
    assert all(math.isnan(value) for value in mean_sd([]))


# --- the report's sentence --------------------------------------------------------------------

CE = {1: 30.0, 2: 30.5, 3: 29.5, 4: 30.25, 5: 29.75}
LABELS = {"focal": "focal (γ=1.3)"}


def _shifted(deltas: list[float]) -> dict[int, float]:
    return {seed: CE[seed] + delta for seed, delta in zip(CE, deltas, strict=True)}


CLEAR = _shifted([0.75, 1.0, 1.0, 0.75, 1.0])  # +0.90, tight: significant against CE
NOISY = _shifted([1.5, -0.5, 0.5, 1.0, -0.5])  # +0.40, loose: not significant
CLOSE = _shifted([0.5, 1.25, 0.25, 1.0, 0.5])  # +0.70: not significantly below CLEAR


def _interval(ranking, other: str) -> str:
    c = next(c for c in ranking.comparisons if c.other == other)
    return f"95% CI {c.low:.2f}..{c.high:.2f}, 5 seeds"


def test_verdict_leader_beats_the_baseline():
    ranking = rank_criteria({"ce": CE, "focal": CLEAR})
    text = ranking.verdict(baseline="ce", labels=LABELS)
    assert text.startswith("focal (γ=1.3) beats ce by 0.90 micro-F1")
    assert _interval(ranking, "ce") in text


def test_verdict_no_criterion_beats_the_baseline():
    ranking = rank_criteria({"ce": CE, "focal": NOISY})
    text = ranking.verdict(baseline="ce", labels=LABELS)
    assert text.startswith("No criterion is significantly better than ce")
    assert "the best, focal (γ=1.3), leads it by 0.40 micro-F1" in text
    assert _interval(ranking, "ce") in text
    assert ranking.comparisons[0].low < 0 < ranking.comparisons[0].high


def test_verdict_when_the_baseline_leads():
    beaten = rank_criteria({"focal": CE, "ce": CLEAR, "ls": _shifted([-1.0] * 5)})
    text = beaten.verdict(baseline="ce")
    assert text.startswith("No criterion is significantly better than ce: ce beats every other")
    assert "runner-up focal by 0.90" in text
    mixed = rank_criteria({"focal": CLOSE, "ce": CLEAR, "ls": CE})
    text = mixed.verdict(baseline="ce", labels=LABELS)
    assert text.startswith("No criterion is significantly better than ce: ce leads focal (γ=1.3)")
    assert "by 0.20 micro-F1" in text and _interval(mixed, "focal") in text
    assert "ls is significantly worse than ce" in text


def test_verdict_without_a_baseline_uses_the_runner_up():
    clear = rank_criteria({"ce": CE, "focal": CLEAR, "ls": _shifted([-1.0] * 5)})
    text = clear.verdict(baseline="poly1")  # not confirmed: treated as no baseline
    assert text.startswith("focal beats every other criterion; runner-up ce by 0.90 micro-F1")
    assert clear.verdict() == text
    mixed = rank_criteria({"ce": CE, "focal": CLEAR, "label_smoothing": CLOSE})
    text = mixed.verdict(labels=LABELS)
    assert text.startswith("No criterion is significantly better than the others:")
    assert "focal (γ=1.3) leads label_smoothing by 0.20 micro-F1" in text
    assert _interval(mixed, "label_smoothing") in text
    assert "ce is significantly worse" in text
    two = rank_criteria({"ce": CE, "focal": CLEAR}).verdict()
    assert two.startswith("focal beats ce by 0.90 micro-F1")


def test_verdict_for_a_loss_reports_a_positive_lower_difference():
    losses = {"ce": CE, "focal": _shifted([-0.75, -1.0, -1.0, -0.75, -1.0])}
    ranking = rank_criteria(losses, mode="min")
    text = ranking.verdict(baseline="ce", metric="ce_loss")
    assert text.startswith("focal beats ce by 0.90 lower ce_loss")
    assert _interval(ranking, "ce") in text
    assert ranking.comparisons[0].low > 0
