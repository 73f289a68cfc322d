"""race() against simulated seed scores with a known truth, then its contract and its headline.

Every false-claim check runs ``race`` itself on 1,000 simulated races per setting (scores in seed
sds, margin 2 sd, looks 3, 5, 7, 10; settings and checker from ``bench/race_simulation.py``) and
allows the false-claim rate alpha plus a Monte Carlo allowance: the 99.9 % binomial quantile of
1,000 draws at rate alpha, 0.072. A procedure whose true rate is exactly alpha fails one setting
with probability <= 0.1 %, and the draws are seeded, so the test is deterministic. The allowance
is not slack for a bad rule: the naive one (an unadjusted t at every look) fails the same check.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats

from bench.race_simulation import MARGIN, Setting, false_claim, run_races, scores
from search.confirmation import race as race_module
from search.confirmation.race_verdict import MANY_SEEDS
from search.confirmation.statistics import race, rank_criteria

DRAWS = 1000
ALPHA = 0.05
LIMIT = stats.binom.ppf(0.999, DRAWS, ALPHA) / DRAWS
LOOKS = (3, 5, 7, 10)

NULL = [Setting(f"{k} equal", (0.0,) * k) for k in range(2, 7)]
EDGE = [
    Setting("gap = +margin", (MARGIN, 0.0)),
    Setting("gaps = ±margin", (0.0, MARGIN, -MARGIN)),
]
POWER = [Setting(f"one {gap:g} sd ahead", (gap, 0.0, 0.0)) for gap in (1.0, 2.0, 4.0)]
SHARED = [
    Setting("4 equal, seed effect", (0.0,) * 4, "seed_effect"),
    Setting("gap = margin, seed effect", (MARGIN, 0.0), "seed_effect"),
    Setting("4 equal, t3", (0.0,) * 4, "t3"),
]
NOISIER = [
    Setting("3 equal, one 3x noisier", (0.0, 0.0, 0.0), sds=(1.0, 1.0, 3.0)),
    Setting("gap = margin, 3x noisier", (0.0, 0.0, MARGIN), sds=(1.0, 1.0, 3.0)),
]


def _rates(settings: list[Setting], seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {
        s.name: float(np.mean([false_claim(r, s) for r in run_races(s, scores(s, DRAWS, rng))]))
        for s in settings
    }


def _over_limit(settings: list[Setting], seed: int) -> dict[str, float]:
    """The settings whose false-claim rate exceeds alpha plus the allowance."""
    return {name: rate for name, rate in _rates(settings, seed).items() if rate > LIMIT}


@pytest.mark.parametrize(
    ("settings", "seed"),
    [(NULL, 1), (EDGE, 2), (POWER, 3), (SHARED, 4), (NOISIER, 5)],
    ids=["null", "margin_edge", "power", "shared_seed_effect_and_t3", "noisier_criterion"],
)
def test_false_claim_rate_is_at_most_alpha(settings, seed):
    assert _over_limit(settings, seed) == {}, LIMIT


def test_the_check_has_teeth_an_unadjusted_t_at_every_look_fails_it(monkeypatch):
    """Plant the naive rule: every pair at every look judged at 5 %, as if it were the only one."""

    @functools.lru_cache
    def unadjusted(looks, pairs, alpha):
        return [(stats.t.ppf(1 - alpha / 2, n - 1), stats.t.ppf(1 - alpha, n - 1)) for n in looks]

    monkeypatch.setattr(race_module, "_critical_values", unadjusted)
    failed = _over_limit(NULL, 1)
    assert len(failed) >= 4, failed  # 3 or more equal criteria: far above 5 %
    assert max(failed.values()) > 0.3, failed


def test_power_one_criterion_four_sd_ahead_wins_with_fewer_runs_than_ten_seeds():
    setting = Setting("one 4 sd ahead", (4.0, 0.0, 0.0))
    results = run_races(setting, scores(setting, DRAWS, np.random.default_rng(6)))
    won = [r.decision == "winner" and r.running == ["c0"] for r in results]
    assert np.mean(won) >= 0.95
    assert np.mean([sum(r.seeds.values()) for r in results]) < 30


def test_two_equal_criteria_are_shown_equivalent_nine_times_in_ten():
    setting = Setting("2 equal", (0.0, 0.0))
    results = run_races(setting, scores(setting, DRAWS, np.random.default_rng(7)))
    assert np.mean([r.decision == "equivalent" for r in results]) >= 0.9


# --- the contract -----------------------------------------------------------------------------


class _Recorder:
    """A ``draw`` that serves a fixed table and remembers every batch it was asked."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table, self.batches = table, []

    def __call__(self, batch):
        self.batches.append(list(batch))
        return {(name, seed): self.table[name][seed - 1] for name, seed in batch}


def test_draw_is_asked_each_pair_once_seeds_in_order_and_only_for_running_criteria():
    rng = np.random.default_rng(8)
    for truth in ([0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 1.0, 6.0, 2.0]):
        table = {f"c{i}": (m + rng.standard_normal(10)).tolist() for i, m in enumerate(truth)}
        draw = _Recorder(table)
        result = race(list(table), draw, metric="micro_f1", baseline="c0", margin=2.0, looks=LOOKS)
        asked = [pair for batch in draw.batches for pair in batch]
        assert len(asked) == len(set(asked))
        for name in table:
            assert [seed for n, seed in asked if n == name] == list(
                range(1, result.seeds[name] + 1)
            )
        assert len(draw.batches) == result.looks_used
        for look, batch in enumerate(draw.batches):
            assert {seed for _, seed in batch} <= set(range(1, LOOKS[look] + 1))


def test_a_criterion_shown_worse_receives_no_more_seeds():
    equal = [30.0, 31.0, 29.0, 30.5, 29.5, 30.2, 29.8, 30.1, 29.9, 30.0]
    noisy = [31.0, 29.5, 30.5, 29.0, 30.5, 29.6, 31.0, 29.2, 30.8, 29.4]
    bad = [value - 100.0 + 0.01 * seed for seed, value in enumerate(equal)]
    draw = _Recorder({"ce": equal, "focal": noisy, "poly1": bad})
    result = race(["ce", "focal", "poly1"], draw, metric="micro_f1", baseline="ce", margin=1.0,
                  looks=LOOKS)  # fmt: skip
    assert result.seeds["poly1"] == 3 < result.seeds["ce"] == result.seeds["focal"]
    assert all(name != "poly1" for batch in draw.batches[1:] for name, _ in batch)
    assert {(c.a, c.b, c.kind) for c in result.claims if c.b == "poly1"} >= {
        ("ce", "poly1", "better")
    }


def test_lower_is_better_for_a_loss():
    base = [1.0, 1.2, 0.9, 1.1, 1.05]
    lower = [value - 0.5 + 0.001 * seed for seed, value in enumerate(base)]
    table = {"ce": base, "focal": lower}
    as_loss = race(list(table), _Recorder(table), metric="ce_loss", baseline="ce", margin=0.1,
                   looks=[5])  # fmt: skip
    assert as_loss.running == ["focal"]
    (claim,) = as_loss.claims
    assert (claim.a, claim.b, claim.kind) == ("focal", "ce", "better")
    assert claim.difference == pytest.approx(0.498) and claim.low > 0
    as_score = race(list(table), _Recorder(table), metric="dev_micro_f1", baseline="ce",
                    margin=0.1, looks=[5])  # fmt: skip
    assert as_score.running == ["ce"]


def test_a_single_look_gives_todays_simultaneous_interval():
    rng = np.random.default_rng(9)
    table = {f"c{i}": (rng.standard_normal(6) + i).tolist() for i in range(3)}
    result = race(list(table), _Recorder(table), metric="micro_f1", baseline="c0", margin=0.01,
                  looks=[6])  # fmt: skip
    ranking = rank_criteria({name: dict(enumerate(row, 1)) for name, row in table.items()})
    for comparison in ranking.comparisons:
        claim = next(c for c in result.claims if {c.a, c.b} == {ranking.leader, comparison.other})
        assert claim.kind != "equivalent"
        assert (claim.low, claim.high) == pytest.approx((comparison.low, comparison.high))
        assert (claim.kind == "better") == comparison.significant


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"looks": []}, "looks must name at least one seed count"),
        (
            {"looks": [3, 5, 5]},
            r"looks must increase strictly from at least 2 seeds, but got \[3, 5, 5\]",
        ),
        ({"looks": [5, 3]}, "looks must increase strictly"),
        ({"looks": [1, 3]}, "from at least 2 seeds"),
        ({"looks": [3.0, 5]}, "whole seed counts"),
        ({"margin": 0.0}, "margin must be a finite number > 0, but got 0.0"),
        ({"margin": -1.0}, "margin must be a finite number > 0"),
        ({"margin": math.nan}, "margin must be a finite number > 0"),
        ({"baseline": "poly1"}, r"baseline 'poly1' must be one of the criteria \['ce', 'focal'\]"),
        ({"criteria": ["ce"]}, "at least 2 distinct names"),
        ({"criteria": ["ce", "ce"]}, "at least 2 distinct names"),
        ({"alpha": 0.0}, "alpha must lie strictly between 0 and 1"),
        ({"metric": "f2"}, "unknown metric 'f2'"),
    ],
)
def test_bad_arguments_are_refused_with_the_rule_and_the_value(kwargs, message):
    arguments = {"criteria": ["ce", "focal"], "metric": "micro_f1", "baseline": "ce",
                 "margin": 1.0, "looks": [3, 5], **kwargs}  # fmt: skip
    criteria = arguments.pop("criteria")
    draw = _Recorder({"ce": [1.0] * 5, "focal": [1.0] * 5})
    with pytest.raises(ValueError, match=message):
        race(criteria, draw, **arguments)
    assert draw.batches == []  # refused before any training


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, r"no score for criterion 'focal', seed 1"), (math.inf, r"'focal', seed 1: score inf")],
)
def test_a_draw_without_a_finite_score_is_an_error(value, message):
    def draw(batch):
        scores = {pair: 1.0 for pair in batch}
        if value is None:
            del scores[("focal", 1)]
        else:
            scores[("focal", 1)] = value
        return scores

    with pytest.raises(ValueError, match=message):
        race(["ce", "focal"], draw, metric="micro_f1", baseline="ce", margin=1.0, looks=[3])


# --- the headline -----------------------------------------------------------------------------

CE = [30.0, 31.0, 29.5, 30.5, 30.2, 29.8, 30.1, 29.9, 30.4, 29.6]


def _shifted(deltas: list[float]) -> list[float]:
    return [value + delta for value, delta in zip(CE, deltas * 10, strict=False)]


def _race(table: dict[str, list[float]], baseline: str = "ce", margin: float = 1.0):
    return race(list(table), _Recorder(table), metric="micro_f1", baseline=baseline,
                margin=margin, looks=LOOKS)  # fmt: skip


def test_headline_recommends_the_baseline_when_the_others_are_within_the_margin():
    result = _race({"ce": CE, "focal": _shifted([0.02, -0.01, 0.0]),
                    "label_smoothing": _shifted([-0.01, 0.02, 0.01])})  # fmt: skip
    assert result.looks_used == 1 and result.seeds == dict.fromkeys(result.seeds, 3)
    assert result.decision == "equivalent"
    assert result.verdict() == "Use ce: focal and label_smoothing are within 1.0 micro_f1 of it"
    assert all(c.kind == "equivalent" and -1 < c.low <= c.high < 1 for c in result.claims)


def test_headline_names_the_winner_and_what_it_beat():
    result = _race({"ce": CE, "focal": _shifted([3.0, 3.1, 2.9]), "poly1": _shifted([3.5])})
    assert result.decision == "winner" and result.running == ["poly1"]
    text = result.verdict(labels={"poly1": "poly1 (ε=1)"})
    assert text.startswith("Use poly1 (ε=1): it is better than ce by 3.50 micro_f1 (95% CI ")
    beaten = next(c for c in result.claims if c.b == "focal")
    assert beaten.a == "poly1" and beaten.kind == "better"
    assert f" and focal by {beaten.difference:.2f} micro_f1 (95% CI {beaten.low:.2f}.." in text


def test_headline_without_the_baseline_among_the_equivalent():
    result = _race({"ce": CE, "focal": _shifted([3.0, 3.02, 3.01]),
                    "poly1": _shifted([3.01, 3.0, 3.02])})  # fmt: skip
    text = result.verdict()
    assert text.startswith("Use focal or poly1: they are within 1.0 micro_f1 of each other (")
    assert text.endswith("; ce is worse than focal") or text.endswith("; ce is worse than poly1")


def test_headline_says_what_is_undecided_and_roughly_how_many_seeds_more():
    noisy = _shifted([1.5, -1.0, 0.4, 2.0, -0.5])
    result = _race({"ce": CE, "focal": noisy})
    assert result.decision == "undecided" and result.looks_used == 4
    (claim,) = result.claims
    needed = result.seeds_to_decide[(claim.a, claim.b)]
    assert needed > 10
    assert result.verdict() == (
        "Undecided after 10 seeds, neither better nor within 1.0 micro_f1: focal leads ce by "
        f"{claim.difference:.2f} micro_f1 (95% CI {claim.low:.2f}..{claim.high:.2f}), roughly "
        f"{needed - 10} more seeds each ({needed} in all) would decide it"
    )


def test_headline_does_not_promise_a_run_of_hundreds_of_seeds():
    """A difference far below the seed noise would need hundreds of seeds: the headline says
    that it is small against the noise, not a seed count nobody would train."""
    result = _race({"ce": CE, "focal": _shifted([1.5, -1.0, 0.2, 2.0, -1.5])}, margin=0.05)
    (claim,) = result.claims
    assert result.decision == "undecided"
    assert result.seeds_to_decide[(claim.a, claim.b)] > MANY_SEEDS
    assert result.verdict().endswith(
        f"more than {MANY_SEEDS} seeds each would be needed to decide it: the difference is "
        "small against the seed noise"
    )
