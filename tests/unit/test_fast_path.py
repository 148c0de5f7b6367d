import torch
from torch import nn

from smoot_dist.config import MethodConfig
from smoot_dist.method.step import method_step


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))


def test_fused_forward_equals_two_forwards_for_a_model_without_batch_statistics():
    torch.manual_seed(1)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    k = torch.rand(16) * 0.6 + 0.2
    for method in ("sgt", "smoot"):
        cfg = MethodConfig(name=method)
        model = _net()
        torch.manual_seed(2)
        a = method_step(cfg, model, model, x, y, k, fuse=False)
        torch.manual_seed(2)
        b = method_step(cfg, model, model, x, y, k, fuse=True)
        assert torch.allclose(a.loss, b.loss, rtol=1e-5, atol=1e-6)
        assert torch.allclose(a.kl, b.kl, rtol=1e-5, atol=1e-6)
        if method == "smoot":
            assert torch.allclose(a.new_k, b.new_k, atol=1e-6)
        ga = torch.autograd.grad(a.loss, list(model.parameters()))
        gb = torch.autograd.grad(b.loss, list(model.parameters()))
        assert all(torch.allclose(u, v, rtol=1e-4, atol=1e-6) for u, v in zip(ga, gb))
