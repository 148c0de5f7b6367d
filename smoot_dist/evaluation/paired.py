"""Paired comparisons over seeds: the mean difference of two methods' results with a 95%
Student-t interval, and whether a claimed ordering holds at that confidence.

Runs of two methods with the same seed share the data subset, the initial weights and the
batch order, so their difference per seed removes what the seed alone explains; the interval is
mean +- t(0.975, n-1) * sd / sqrt(n) over those n differences."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy.stats import t as student_t

# (claim as the paper states it, metric, method A, method B): the claim holds when A - B > 0.
# The last is ours: does the saliency matter, or only the masking?
CLAIMS = (
    ("SMOOT accuracy >= SGT accuracy", "accuracy", "smoot", "sgt"),
    ("SMOOT AUC < SGT AUC", "auc", "sgt", "smoot"),
    ("SGT AUC < Traditional AUC", "auc", "traditional", "sgt"),
    ("SMOOT AUC < Traditional AUC", "auc", "traditional", "smoot"),
    ("SGT AUC < Random-mask AUC (the ablation: saliency, not masking alone)", "auc",
     "random_mask", "sgt"),
)


@dataclass
class PairedDifference:
    claim: str
    metric: str
    a: str
    b: str
    n: int  # seeds both methods ran
    mean: float  # mean of (A - B) over those seeds
    low: float  # 95% interval
    high: float

    @property
    def verdict(self) -> str:
        if self.n < 2:
            return "one seed: no interval"
        if self.low > 0:
            return "holds"
        if self.high < 0:
            return "reversed"
        return "not resolved (the interval contains 0)"


def paired_difference(a: dict[int, float], b: dict[int, float]) -> tuple[int, float, float, float]:
    """(n, mean, low, high) of a[s] - b[s] over the seeds s both have."""
    diffs = [a[s] - b[s] for s in sorted(a.keys() & b.keys())]
    n = len(diffs)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = statistics.fmean(diffs)
    if n == 1:
        return 1, mean, math.nan, math.nan
    half = float(student_t.ppf(0.975, n - 1)) * statistics.stdev(diffs) / math.sqrt(n)
    return n, mean, mean - half, mean + half


def claim_table(values: dict[str, dict[str, dict[int, float]]]) -> list[PairedDifference]:
    """values[metric][method][seed] -> every claim whose two methods both ran."""
    out = []
    for claim, metric, a, b in CLAIMS:
        by_method = values.get(metric, {})
        if a in by_method and b in by_method:
            out.append(PairedDifference(claim, metric, a, b,
                                        *paired_difference(by_method[a], by_method[b])))
    return out
