import math

import torch

from smoot_dist.method.loss import saliency_guided_loss


def test_loss_equals_plain_per_sample_reference():
    torch.manual_seed(0)
    logits, mlogits = torch.randn(16, 10), torch.randn(16, 10)
    y = torch.randint(0, 10, (16,))
    total, ce, kl, *_ = saliency_guided_loss(logits, mlogits, y, lam=0.7)
    ce_ref, kl_ref = 0.0, 0.0
    for i in range(16):
        z = logits[i].tolist()
        zm = mlogits[i].tolist()
        lse = math.log(sum(math.exp(v) for v in z))
        lsem = math.log(sum(math.exp(v) for v in zm))
        logp = [v - lse for v in z]
        logpm = [v - lsem for v in zm]
        ce_ref += -logp[int(y[i])]
        kl_ref += sum(math.exp(a) * (a - b) for a, b in zip(logp, logpm))  # KL(p || p_m)
    ce_ref /= 16
    kl_ref /= 16
    assert math.isclose(ce.item(), ce_ref, rel_tol=1e-5)
    assert math.isclose(kl.item(), kl_ref, rel_tol=1e-5)
    assert math.isclose(total.item(), ce_ref + 0.7 * kl_ref, rel_tol=1e-5)


def test_gradients_flow_through_both_branches():
    torch.manual_seed(1)
    logits = torch.randn(4, 5, requires_grad=True)
    mlogits = torch.randn(4, 5, requires_grad=True)
    total, *_ = saliency_guided_loss(logits, mlogits, torch.tensor([0, 1, 2, 3]), lam=1.0)
    total.backward()
    assert logits.grad.abs().sum() > 0 and mlogits.grad.abs().sum() > 0


def test_kl_vanishes_when_branches_agree():
    logits = torch.randn(8, 10)
    _, _, kl, *_ = saliency_guided_loss(logits, logits.clone(), torch.zeros(8, dtype=torch.long), 1.0)
    assert abs(kl.item()) < 1e-6
