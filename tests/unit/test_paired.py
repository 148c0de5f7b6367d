"""Paired comparisons over seeds: the t interval, the verdict, the claims' sign convention."""

import math

import pytest

from smoot_dist.reports.paired import PairedDifference, claim_table, paired_difference, t_975


def test_t_quantile_table_matches_scipy_within_a_thousandth():
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 40), 45, 50, 75, 100, 150, 500, 10_000]:
        assert t_975(df) == pytest.approx(float(stats.t.ppf(0.975, df)), abs=1e-3), df
    with pytest.raises(ValueError):
        t_975(0)


def test_paired_difference_by_hand():
    # differences 1, 2, 3 on the seeds both have (seed 9 has one method only): mean 2, sd 1
    n, mean, low, high = paired_difference({0: 1.0, 1: 2.0, 2: 3.0, 9: 50.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    half = 4.3027 / math.sqrt(3)
    assert (n, mean) == (3, 2.0)
    assert (low, high) == (pytest.approx(2.0 - half), pytest.approx(2.0 + half))
    n, mean, low, high = paired_difference({0: 5.0}, {0: 2.0})
    assert (n, mean) == (1, 3.0) and math.isnan(low) and math.isnan(high)
    assert paired_difference({0: 1.0}, {1: 1.0})[0] == 0


@pytest.mark.parametrize("low, high, n, verdict", [
    (0.1, 2.0, 3, "holds"), (-2.0, -0.1, 3, "reversed"),
    (-0.5, 1.0, 3, "not resolved (the interval contains 0)"), (math.nan, math.nan, 1, "one seed: no interval")])
def test_verdict(low, high, n, verdict):
    assert PairedDifference("c", "auc", "a", "b", n, 0.0, low, high).verdict == verdict


def test_claims_point_the_way_the_paper_claims():
    seeds = range(3)
    auc = {"traditional": {s: 30.0 + s for s in seeds}, "sgt": {s: 25.0 + s for s in seeds},
           "smoot": {s: 24.0 + s + 0.1 * s for s in seeds}}
    accuracy = {"sgt": {s: 90.0 for s in seeds}, "smoot": {s: 89.0 + 0.01 * s for s in seeds}}
    rows = {c.claim: c for c in claim_table({"auc": auc, "accuracy": accuracy})}
    # lower AUC for SMOOT than SGT: the claim's difference (SGT - SMOOT) is positive and holds
    assert rows["SMOOT AUC < SGT AUC"].mean == pytest.approx(0.9)
    assert rows["SMOOT AUC < SGT AUC"].verdict == "holds"
    assert rows["SGT AUC < Traditional AUC"].mean == pytest.approx(5.0)
    # SMOOT's accuracy 1 point below SGT's on every seed: the claim is reversed
    assert rows["SMOOT accuracy >= SGT accuracy"].verdict == "reversed"
    # no random-mask runs: no ablation row
    assert not any("Random" in claim for claim in rows)
