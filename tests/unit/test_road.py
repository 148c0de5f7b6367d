"""ROAD's noisy linear imputation on hand-made images."""

import torch

from smoot_dist.metrics.faithfulness.road import road_impute


def _removed(h, w, pixels, batch=1):
    m = torch.zeros(batch, h * w, dtype=torch.bool)
    for r, c in pixels:
        m[:, r * w + c] = True
    return m


def test_a_removed_pixel_among_kept_ones_gets_their_weighted_mean():
    x = torch.arange(25, dtype=torch.float32).view(1, 1, 5, 5) ** 1.5
    out = road_impute(x, _removed(5, 5, [(2, 2)]), noise_std=0)
    n = x[0, 0]
    direct = n[1, 2] + n[3, 2] + n[2, 1] + n[2, 3]
    diagonal = n[1, 1] + n[1, 3] + n[3, 1] + n[3, 3]
    expected = (direct / 6 + diagonal / 12) / (4 / 6 + 4 / 12)
    assert torch.allclose(out[0, 0, 2, 2], expected, rtol=1e-5)


def test_at_the_border_the_weights_are_renormalised_over_the_neighbours_inside():
    x = torch.rand(1, 1, 4, 4)
    out = road_impute(x, _removed(4, 4, [(0, 0)]), noise_std=0)
    n = x[0, 0]
    expected = (n[0, 1] / 6 + n[1, 0] / 6 + n[1, 1] / 12) / (2 / 6 + 1 / 12)
    assert torch.allclose(out[0, 0, 0, 0], expected, rtol=1e-5)


def test_a_removed_block_is_filled_smoothly_from_its_border():
    # A linear ramp is harmonic for this symmetric stencil: a removed 6x6 block is recovered.
    h = w = 12
    ramp = (torch.arange(w, dtype=torch.float32) * 0.5).expand(h, w) + torch.arange(h).view(-1, 1) * 0.25
    x = torch.stack([ramp, 3 - ramp]).unsqueeze(0)  # two channels
    block = [(r, c) for r in range(3, 9) for c in range(3, 9)]
    out = road_impute(x, _removed(h, w, block), noise_std=0)
    assert torch.allclose(out, x, atol=1e-4)
    # a block cut out of a constant image is that constant
    flat = torch.full((1, 1, h, w), 0.7)
    assert torch.allclose(road_impute(flat, _removed(h, w, block), noise_std=0), flat, atol=1e-5)


def test_kept_pixels_never_change_and_the_noise_is_seeded():
    x = torch.randn(3, 3, 10, 10)
    removed = torch.rand(3, 100, generator=torch.Generator().manual_seed(1)) < 0.6
    a = road_impute(x, removed, noise_std=0.05, seed=4)
    kept = ~removed.view(3, 1, 10, 10).expand_as(x)
    assert torch.equal(a[kept], x[kept])
    assert torch.equal(a, road_impute(x, removed, noise_std=0.05, seed=4))
    assert not torch.equal(a, road_impute(x, removed, noise_std=0.05, seed=5))
    quiet = road_impute(x, removed, noise_std=0)
    assert 0.01 < (a - quiet)[~kept].std() < 0.1


def test_the_imputed_values_solve_the_neighbour_equations():
    # every removed pixel equals the weighted mean of its (kept or imputed) neighbours
    torch.manual_seed(0)
    x = torch.rand(2, 1, 9, 9)
    removed = torch.rand(2, 81) < 0.9
    out = road_impute(x, removed, noise_std=0).double()
    k = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]],
                     dtype=torch.float64).view(1, 1, 3, 3)
    mean = torch.nn.functional.conv2d(out, k, padding=1) / torch.nn.functional.conv2d(
        torch.ones_like(out), k, padding=1)
    r = removed.view(2, 1, 9, 9)
    assert torch.allclose(out[r], mean[r], atol=1e-4)
