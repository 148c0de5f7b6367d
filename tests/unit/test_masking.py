import torch

from smoot_dist.method.masking import apply_mask, fill_values, lowest_saliency_mask, mask_counts


def test_mask_counts_round_half_to_even_in_float64():
    k = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0, 0.25], dtype=torch.float32)
    # 0.2 * 784 = 156.8 -> 157 (float32 0.2 is 0.200000003); 0.25 * 10 = 2.5 -> 2 (half to even)
    assert mask_counts(k, 784).tolist() == [0, 157, 392, 627, 784, 196]
    assert mask_counts(torch.tensor([0.25]), 10).tolist() == [2]


def test_exact_count_per_sample_with_different_k_in_one_batch():
    torch.manual_seed(0)
    saliency = torch.randn(6, 784)
    k = torch.tensor([0.0, 0.1, 0.33, 0.5, 0.77, 1.0])
    counts = mask_counts(k, 784)
    mask = lowest_saliency_mask(saliency, counts)
    assert mask.sum(dim=1).tolist() == counts.tolist()


def test_only_the_lowest_saliency_pixels_are_masked():
    torch.manual_seed(1)
    saliency = torch.randn(4, 100)
    counts = torch.tensor([0, 7, 50, 99])
    mask = lowest_saliency_mask(saliency, counts)
    for i in range(4):  # plain reference: the c smallest values of the row
        expected = set(sorted(range(100), key=lambda j: saliency[i, j].item())[: counts[i]])
        assert set(torch.nonzero(mask[i]).flatten().tolist()) == expected


def test_ties_keep_exact_counts_and_prefer_lower_pixel_index():
    saliency = torch.zeros(2, 10)
    saliency[1, 5:] = -1.0  # five lowest at the end, then ties at zero
    mask = lowest_saliency_mask(saliency, torch.tensor([3, 7]))
    assert torch.nonzero(mask[0]).flatten().tolist() == [0, 1, 2]
    assert torch.nonzero(mask[1]).flatten().tolist() == [0, 1, 5, 6, 7, 8, 9]


def test_apply_mask_replaces_all_channels_of_masked_pixels_and_nothing_else():
    torch.manual_seed(2)
    x = torch.randn(3, 3, 4, 4)
    mask = torch.rand(3, 16) < 0.4
    for fill in ("random", "background", "mean"):
        xm = apply_mask(x, mask, fill)
        m = mask.view(3, 1, 4, 4).expand_as(x)
        assert torch.equal(xm[~m], x[~m])
        if fill == "background":
            lo = x.flatten(1).amin(1).view(-1, 1, 1, 1).expand_as(x)
            assert torch.equal(xm[m], lo[m])
        if fill == "mean":
            mu = x.flatten(1).mean(1).view(-1, 1, 1, 1).expand_as(x)
            assert torch.equal(xm[m], mu[m])


def test_random_fill_stays_in_each_samples_range():
    torch.manual_seed(3)
    x = torch.cat([torch.rand(1, 1, 28, 28) * s + o for s, o in ((1, 0), (5, -3), (0.1, 10))])
    values = fill_values(x, "random")
    lo = x.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = x.flatten(1).amax(1).view(-1, 1, 1, 1)
    assert values.shape == x.shape
    assert ((values >= lo) & (values <= hi)).all()
    # and it spreads over the range rather than sitting at one end
    span = (values.flatten(1).amax(1) - values.flatten(1).amin(1)) / (hi - lo).flatten()
    assert (span > 0.9).all()
