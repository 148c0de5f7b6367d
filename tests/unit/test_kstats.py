import numpy as np
import pytest
import torch

from smoot_dist.method.kstats import k_stats_payload, summarize_k_stats
from smoot_dist.method.masking import mask_counts


@pytest.mark.parametrize("n", [1, 2, 1000, 1001])
def test_histogram_stats_equal_the_full_vector_and_sum_over_ranks(n):
    torch.manual_seed(n)
    k = torch.rand(n).clamp(0.2, 0.8)
    k[: n // 10] = 0.2  # some samples sit at each bound
    k[n // 10: n // 5] = 0.8
    P = 784
    counts = mask_counts(k, P).numpy()
    world = 3
    summed = sum(k_stats_payload(k[r::world], P, 0.2, 0.8) for r in range(world))
    stats = summarize_k_stats(summed, P)
    assert stats["min"] == counts.min() and stats["max"] == counts.max()
    assert stats["median"] == np.median(counts)
    assert stats["mean_fraction"] == pytest.approx(k.double().mean().item(), rel=1e-12)
    assert stats["share_at_min"] == pytest.approx((k == torch.tensor(0.2)).float().mean().item())
    assert stats["share_at_max"] == pytest.approx((k == torch.tensor(0.8)).float().mean().item())
    assert stats["n"] == n
    assert summarize_k_stats(k_stats_payload(k, P, 0.2, 0.8), P) == stats


def test_constant_k_gives_one_value():
    stats = summarize_k_stats(k_stats_payload(torch.full((10,), 0.5), 784, 0.2, 0.8), 784)
    assert (stats["min"], stats["median"], stats["max"]) == (392, 392, 392)
    assert stats["share_at_min"] == stats["share_at_max"] == 0.0
