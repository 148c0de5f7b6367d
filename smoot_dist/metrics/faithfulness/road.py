"""ROAD's noisy linear imputation (Rong et al., ICML 2022): removed pixels are not set to a
constant, which makes images unlike any the model saw and lets the mask's shape leak the class,
but filled from their kept neighbours.

Each removed pixel takes the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct
ones, 1/12 for the diagonals, renormalised at the image border), where removed neighbours are
themselves unknowns: one sparse linear system per image and channel. Multiplying each equation by
its pixel's total weight makes the system symmetric positive definite (a weighted graph
Laplacian with the kept pixels as boundary values), so conjugate gradients solve it, all images
and channels at once, with 3x3 convolutions on the device. Small Gaussian noise is added to the
filled pixels, drawn from a seeded generator: the result is deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_D, _C = 1 / 6, 1 / 12
NEIGHBOUR_WEIGHTS = torch.tensor([[_C, _D, _C], [_D, 0.0, _D], [_C, _D, _C]], dtype=torch.float64)


def _neighbour_sum(v: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """sum over the 8 neighbours q of w_q * v_q, per (N, 1, H, W) plane (zero outside the image)."""
    return F.conv2d(v, kernel, padding=1)


def road_impute(x: torch.Tensor, removed: torch.Tensor, noise_std: float = 0.01,
                seed: int = 0, tol: float = 1e-6, max_iter: int | None = None) -> torch.Tensor:
    """x (B, C, H, W) with the pixels where `removed` (B, H*W) is True imputed in every channel;
    kept pixels are returned unchanged."""
    b, c, h, w = x.shape
    dtype = torch.float64  # CG's dot products; the result is cast back
    kernel = NEIGHBOUR_WEIGHTS.to(x.device).view(1, 1, 3, 3)
    m = removed.view(b, 1, h, w).expand(b, c, h, w).reshape(b * c, 1, h, w).to(dtype)
    known = x.reshape(b * c, 1, h, w).to(dtype) * (1 - m)
    degree = _neighbour_sum(torch.ones(1, 1, h, w, dtype=dtype, device=x.device), kernel)

    def apply(v: torch.Tensor) -> torch.Tensor:  # A v on the unknowns (v is zero on kept pixels)
        return m * (degree * v - _neighbour_sum(v, kernel))

    rhs = m * _neighbour_sum(known, kernel)
    v = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rs = (r * r).sum((1, 2, 3), keepdim=True)
    scale = rhs.abs().amax((1, 2, 3), keepdim=True).clamp_min(1e-12)
    for _ in range(max_iter or 4 * (h + w) + 50):
        if bool((rs.sqrt() <= tol * scale).all()):
            break
        ap = apply(p)
        pap = (p * ap).sum((1, 2, 3), keepdim=True)
        alpha = torch.where(pap > 0, rs / pap.clamp_min(1e-300), torch.zeros_like(pap))
        v += alpha * p
        r -= alpha * ap
        rs_new = (r * r).sum((1, 2, 3), keepdim=True)
        p = r + torch.where(rs > 0, rs_new / rs.clamp_min(1e-300), torch.zeros_like(rs)) * p
        rs = rs_new
    if noise_std:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.randn(v.shape, generator=gen, dtype=dtype).to(x.device) * noise_std
        v = v + noise * m
    filled = (known + v * m).view(b, c, h, w).to(x.dtype)
    return torch.where(removed.view(b, 1, h, w), filled, x)
