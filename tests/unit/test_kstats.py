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


def test_epoch_statistics_bring_evaluation_and_k_back_in_one_all_reduce(real_data_root):
    """The epoch boundary's statistics: the same numbers as evaluate() and k_stats() apart,
    from a single all-reduce (one device-to-host copy)."""
    from smoot_dist.config import build_config
    from smoot_dist.training.trainer import Trainer

    cfg = build_config(overrides={
        "data": {"dataset": "mnist", "train_subset": 200, "test_subset": 100, "val_images": 50},
        "method": {"name": "smoot"}, "train": {"epochs": 1, "device": "cpu"}})
    calls = []

    def all_reduce(t):
        calls.append(t.numel())
        return t

    trainer = Trainer(cfg, log=lambda line: None, all_reduce=all_reduce)
    trainer.mask_state.set(torch.arange(200), torch.linspace(0.2, 0.8, 200))
    apart = trainer.evaluate(), trainer.k_stats()
    calls.clear()
    together = trainer.epoch_statistics()
    assert together == apart
    assert calls == [2 * 3 + 784 + 1 + 3]  # (correct, loss, n) for test and val, the K payload
