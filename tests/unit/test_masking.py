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


def test_the_random_mask_method_masks_round_k0_p_random_pixels_not_the_least_salient():
    import torch.nn.functional as F
    from torch import nn

    from smoot_dist.config import MethodConfig
    from smoot_dist.method import step as step_module

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    x = torch.randn(16, 1, 8, 8)
    y = torch.randint(0, 3, (16,))
    k = torch.full((16,), 0.3)
    masks = []
    real_apply = step_module.apply_mask

    def spy(x_, mask, fill):
        masks.append(mask)
        return real_apply(x_, mask, fill)

    step_module.apply_mask = spy
    try:
        out = step_module.method_step(MethodConfig(name="random_mask", fill="background"), model,
                                      model, x, y, k)
        step_module.method_step(MethodConfig(name="sgt", fill="background"), model, model, x, y, k)
    finally:
        step_module.apply_mask = real_apply
    random_mask, saliency_mask = masks
    assert random_mask.sum(1).tolist() == [19] * 16  # round(0.3 * 64)
    assert out.new_k is None  # k stays k0, as in SGT
    assert not torch.equal(random_mask, saliency_mask)  # not the lowest-saliency pixels
    # uniform: over many draws every pixel is masked about k0 of the time
    from smoot_dist.method.masking import random_mask as draw

    freq = torch.stack([draw(torch.full((64,), 19), 64) for _ in range(200)]).float().mean((0, 1))
    assert freq.sub(19 / 64).abs().max() < 0.05
    # its loss is SGT's loss form: CE on the clean batch plus lambda * KL to the masked one
    logits, masked = model(x), model(torch.where(random_mask.view(16, 1, 8, 8), x.flatten(1).amin(1).view(-1, 1, 1, 1), x))
    ce = F.cross_entropy(logits, y)
    kl = F.kl_div(F.log_softmax(masked, 1), F.log_softmax(logits, 1), reduction="batchmean", log_target=True)
    assert torch.allclose(out.ce, ce) and torch.allclose(out.loss, ce + kl, atol=1e-5)
