import torch
from torch import nn

from smoot_dist.method.saliency import input_saliency


def test_saliency_is_the_gradient_of_the_label_log_probability_averaged_over_channels():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    x, y = torch.randn(5, 2, 3, 3), torch.tensor([0, 1, 2, 3, 0])
    s = input_saliency(model, x, y)
    # Closed form for a linear model: d log p_y / dx = W_y - sum_c p_c W_c.
    W = model[1].weight
    p = model(x).softmax(1)
    grad = (W[y] - p @ W).view(5, 2, 3, 3)
    assert torch.allclose(s, grad.mean(1).flatten(1), atol=1e-6)
    assert torch.allclose(input_saliency(model, x, y, use_abs=True),
                          grad.abs().mean(1).flatten(1), atol=1e-6)


def test_eval_mode_during_the_pass_mode_restored_and_parameter_grads_untouched():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    model.train()
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,))
    a, b = input_saliency(model, x, y), input_saliency(model, x, y)
    assert torch.equal(a, b)  # dropout was off: two passes agree exactly
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert not x.requires_grad
