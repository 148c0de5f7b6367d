"""Paired comparisons over seeds: the mean difference of two methods' results with a 95%
Student-t interval, and whether a claimed ordering holds at that confidence.

Runs of two methods with the same seed share the data subset, the initial weights and the
batch order, so their difference per seed removes what the seed alone explains; the interval is
mean +- t(0.975, n-1) * sd / sqrt(n) over those n differences."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ..metrics import has_direction, higher_is_better

# t(0.975, df), Student's t quantile for a two-sided 95% interval; between the listed degrees
# of freedom above 30 it is interpolated in 1/df (error < 0.001). A table, not scipy: the
# results page is also written on the GPU machine, which has no scipy.
T_975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646,
         8: 2.3060, 9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448,
         15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796,
         22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484,
         29: 2.0452, 30: 2.0423, 40: 2.0211, 60: 2.0003, 120: 1.9799, math.inf: 1.9600}


def t_975(df: int) -> float:
    if df < 1:
        raise ValueError("a t interval needs at least 1 degree of freedom")
    if df in T_975:
        return T_975[df]
    upper = min(d for d in T_975 if d > df)
    lower = max(d for d in T_975 if d < df)
    w = (1 / lower - 1 / df) / (1 / lower - 1 / upper)  # 1/inf = 0
    return T_975[lower] + w * (T_975[upper] - T_975[lower])

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
    half = t_975(n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    return n, mean, mean - half, mean + half


# The tuned-against-tuned section's questions (jobs/reproduce.py --tune): the same orderings with
# each masking method at its sweep's best setting ("_tuned"), and whether tuning helped each.
TUNED_CLAIMS = (
    ("Tuned SMOOT accuracy >= tuned SGT accuracy", "accuracy", "smoot_tuned", "sgt_tuned"),
    ("Tuned SMOOT AUC < tuned SGT AUC", "auc", "sgt_tuned", "smoot_tuned"),
    ("Tuned SMOOT AUC < SMOOT AUC (tuning helps SMOOT)", "auc", "smoot", "smoot_tuned"),
    ("Tuned SGT AUC < SGT AUC (tuning helps SGT)", "auc", "sgt", "sgt_tuned"),
    ("Tuned SMOOT accuracy >= SMOOT accuracy", "accuracy", "smoot_tuned", "smoot"),
    ("Tuned SGT accuracy >= SGT accuracy", "accuracy", "sgt_tuned", "sgt"),
    ("Tuned SGT AUC < Traditional AUC", "auc", "traditional", "sgt_tuned"),
    ("Tuned SMOOT AUC < Traditional AUC", "auc", "traditional", "smoot_tuned"),
)

# the battery's comparisons: (better, than), each on every metric the runs have
COMPARED = (("smoot", "sgt"), ("sgt", "traditional"), ("smoot", "traditional"))
TUNED_COMPARED = (("smoot_tuned", "sgt_tuned"), ("smoot_tuned", "smoot"), ("sgt_tuned", "sgt"))
# On a decoy dataset (the Shortcuts part): SGT and SMOOT against traditional training, SMOOT
# against SGT, each against the random mask (does the saliency's choice of what to mask
# matter?), and how far each is from RRR (told where the decoy is)
DECOY_COMPARED = (("sgt", "traditional"), ("smoot", "traditional"), ("smoot", "sgt"),
                  ("sgt", "random_mask"), ("smoot", "random_mask"), ("rrr", "sgt"),
                  ("rrr", "smoot"))
TITLES = {"smoot": "SMOOT", "sgt": "SGT", "traditional": "Traditional", "rrr": "RRR",
          "random_mask": "Random mask", "smoot_tuned": "Tuned SMOOT", "sgt_tuned": "Tuned SGT"}


def battery_claims(metric: str, title: str, higher_is_better: bool,
                   compared: tuple[tuple[str, str], ...] = COMPARED
                   ) -> list[tuple[str, str, str, str]]:
    """Not the paper's (it measured none of these): "SMOOT is better than SGT on <metric>" and
    the like, oriented so that A - B > 0 means the first is better in the metric's direction."""
    sign = ">" if higher_is_better else "<"
    arrow = "↑" if higher_is_better else "↓"
    return [(f"{TITLES[better]} {title} {sign} {TITLES[than]} {title} ({arrow})", metric,
             *((better, than) if higher_is_better else (than, better)))
            for better, than in compared]


def claim_table(values: dict[str, dict[str, dict[int, float]]],
                battery_titles: dict[str, str] | None = None,
                claims: tuple[tuple[str, str, str, str], ...] = CLAIMS,
                compared: tuple[tuple[str, str], ...] = COMPARED) -> list[PairedDifference]:
    """values[metric][method][seed] -> every claim whose two methods both ran: `claims` (the
    paper's), then one row per `compared` pair on each battery metric in `values`
    (`battery_titles`: metric -> its title, in table order)."""
    claims = list(claims)
    for metric, title in (battery_titles or {}).items():
        if metric in values and has_direction(metric):  # a reference column claims nothing
            claims += battery_claims(metric, title, higher_is_better(metric), compared)
    out = []
    for claim, metric, a, b in claims:
        by_method = values.get(metric, {})
        if a in by_method and b in by_method:
            out.append(PairedDifference(claim, metric, a, b,
                                        *paired_difference(by_method[a], by_method[b])))
    return out
