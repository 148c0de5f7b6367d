import pytest
import torch

from smoot_dist.method.controller import probability_change, update_k


def _reference_d(p, pm, y, beta, n):
    """Plain per-sample loops, straight from docs/method.md."""
    out = []
    for i in range(p.shape[0]):
        yi = int(y[i])
        d1 = pm[i, yi] - p[i, yi]
        others = sorted((c for c in range(p.shape[1]) if c != yi), key=lambda c: -p[i, c].item())
        top = others[: min(n, p.shape[1]) - 1]
        d2n = sum(pm[i, c] - p[i, c] for c in top) if top else 0.0
        out.append(float(beta * d1 + (1 - beta) * d2n))
    return torch.tensor(out)


def test_hand_computed_update():
    p = torch.tensor([[0.6, 0.2, 0.15, 0.05],
                      [0.1, 0.5, 0.3, 0.1]])
    pm = torch.tensor([[0.7, 0.1, 0.1, 0.1],
                       [0.3, 0.2, 0.4, 0.1]])
    y = torch.tensor([0, 2])
    # sample 0: d1 = 0.1; runner-ups (n=3): classes 1, 2 -> (-0.1) + (-0.05) = -0.15
    #   d = 0.8 * 0.1 + 0.2 * (-0.15) = 0.05
    # sample 1: d1 = 0.4 - 0.3 = 0.1; runner-ups: classes 1 (0.5) and 0 (0.15)
    #   -> (0.2 - 0.5) + (0.35 - 0.15) = -0.1; d = 0.8 * 0.1 + 0.2 * (-0.1) = 0.06
    p[1] = torch.tensor([0.15, 0.5, 0.3, 0.05])
    pm[1] = torch.tensor([0.35, 0.2, 0.4, 0.05])
    d = probability_change(p, pm, y, beta=0.8, n=3)
    assert d.tolist() == pytest.approx([0.05, 0.06], abs=1e-6)
    k = torch.tensor([0.5, 0.5])
    new = update_k(k, p, pm, y, alpha=0.1, beta=0.8, n=3, k_min=0.2, k_max=0.8)
    assert new.tolist() == pytest.approx([0.505, 0.506], abs=1e-6)


def test_sign_label_gain_raises_k_and_label_loss_lowers_it():
    p = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    pm = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    y = torch.tensor([0, 0])
    new = update_k(torch.tensor([0.5, 0.5]), p, pm, y, alpha=0.1, beta=1.0, n=1,
                   k_min=0.0, k_max=1.0)
    assert new[0] > 0.5 > new[1]
    assert new.tolist() == pytest.approx([0.54, 0.46])


def test_clipping_to_bounds_is_exact():
    p = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    pm = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0])  # sample 0 gains the whole label mass, sample 1 loses it
    k = torch.tensor([0.79, 0.21])
    new = update_k(k, p, pm, y, alpha=0.5, beta=0.95, n=5, k_min=0.2, k_max=0.8)
    assert new[0].item() == torch.tensor(0.8).item()
    assert new[1].item() == torch.tensor(0.2).item()


@pytest.mark.parametrize("n", [1, 2, 5, 10, 100])
def test_matches_plain_reference_on_random_inputs(n):
    torch.manual_seed(n)
    logits, mlogits = torch.randn(64, 10), torch.randn(64, 10)
    p, pm = logits.softmax(1), mlogits.softmax(1)
    y = torch.randint(0, 10, (64,))
    for beta in (0.0, 0.8, 0.95, 1.0):
        assert torch.allclose(probability_change(p, pm, y, beta, n), _reference_d(p, pm, y, beta, n),
                              atol=1e-6)


def test_n_is_capped_at_the_number_of_classes():
    torch.manual_seed(0)
    p, pm = torch.rand(8, 3).softmax(1), torch.rand(8, 3).softmax(1)
    y = torch.randint(0, 3, (8,))
    assert torch.allclose(probability_change(p, pm, y, 0.5, 100), probability_change(p, pm, y, 0.5, 3))
