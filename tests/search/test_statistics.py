"""The confirmation statistics on synthetic seed scores with known answers."""

import pytest

from search.statistics import compare, mean_sd


def test_clearly_separated_scores_are_significant():
    result = compare("focal", [50.0, 51.0, 52.0], "ce", [40.0, 41.0, 42.0])
    assert result.difference == pytest.approx(10.0)
    assert 8.0 <= result.low <= 10.0 <= result.high <= 12.0
    assert result.significant
    assert result.verdict().startswith("focal is better than ce by 10.00 (95% CI +")


def test_overlapping_scores_are_not_significant():
    result = compare("focal", [50.0, 45.0, 55.0], "ce", [49.0, 51.0, 50.0])
    assert result.low < 0 < result.high
    assert not result.significant
    assert result.verdict().startswith("no significant difference between focal and ce")


def test_identical_scores_give_a_zero_width_interval_at_zero():
    result = compare("a", [41.0, 41.0], "b", [41.0, 41.0])
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert not result.significant


def test_the_interval_is_seeded_and_narrows_with_more_seeds():
    first = compare("a", [50, 52, 49], "b", [48, 47, 49], seed=3)
    assert first == compare("a", [50, 52, 49], "b", [48, 47, 49], seed=3)
    more = compare("a", [50, 52, 49] * 4, "b", [48, 47, 49] * 4, seed=3)
    assert (more.high - more.low) < (first.high - first.low)


def test_mean_sd_and_bad_input():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match="at least one score"):
        compare("a", [], "b", [1.0])
