"""One training step's loss for each method: traditional, SGT, SMOOT, the random-mask ablation
and RRR, the reference told where the irrelevant region is (docs/method.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from .controller import update_k
from .loss import saliency_guided_loss
from .masking import apply_mask, lowest_saliency_mask, mask_counts, random_mask
from .rrr import rrr_loss
from .saliency import input_saliency


@dataclass
class StepResult:
    loss: torch.Tensor  # what backward() takes
    ce: torch.Tensor  # detached batch means, for the epoch's metrics
    kl: torch.Tensor  # the method's second term: SGT's and SMOOT's KL; RRR's gradient penalty
    logits: torch.Tensor  # clean-branch logits, detached
    new_k: torch.Tensor | None  # SMOOT's updated fractions for this batch; None: k unchanged


def second_term_name(method: str) -> str:
    """What StepResult.kl holds, as the console's epoch line names it (its metric keeps the one
    key, `train_kl`, for every method: one column across runs)."""
    return "penalty" if method == "rrr" else "kl"


def method_step(cfg: MethodConfig, model: nn.Module, plain_model: nn.Module,
                x: torch.Tensor, y: torch.Tensor, k: torch.Tensor | None,
                fuse: bool = False, annotation: torch.Tensor | None = None) -> StepResult:
    """Loss of one batch.

    `model` is what trains (possibly a DDP wrapper); `plain_model` is the same module
    unwrapped, used for the saliency pass. `k` holds the batch's masking fractions
    (SGT: all k0; ignored by traditional). `fuse` runs the clean and the masked batch through
    one forward pass instead of two (the same result for models without batch statistics).
    `annotation` (B, H*W) bool: the region RRR penalises (only RRR reads it, and needs it).
    """
    if cfg.name == "rrr":
        if annotation is None:
            raise ValueError("rrr needs the batch's annotation masks")
        out = rrr_loss(model, x, y, annotation, cfg.rrr_lam)
        return StepResult(out.total, out.ce.detach(), out.penalty.detach(), out.logits.detach(),
                          None)
    if cfg.name == "traditional":
        logits = model(x).float()
        ce = F.cross_entropy(logits, y)
        return StepResult(ce, ce.detach(), torch.zeros_like(ce).detach(), logits.detach(), None)

    num_pixels = x.shape[2] * x.shape[3]
    if cfg.name == "random_mask":  # SGT's loss and k0; which pixels are masked is left to chance
        mask = random_mask(mask_counts(k, num_pixels), num_pixels)
    else:
        saliency = input_saliency(plain_model, x, y, use_abs=cfg.saliency_abs)
        mask = lowest_saliency_mask(saliency, mask_counts(k, num_pixels))
    x_masked = apply_mask(x, mask, cfg.fill)
    if fuse:
        logits, masked_logits = model(torch.cat([x, x_masked])).float().split(x.shape[0])
    else:
        logits, masked_logits = model(x).float(), model(x_masked).float()
    loss, ce, kl, log_p, log_p_masked = saliency_guided_loss(logits, masked_logits, y, cfg.lam)
    new_k = None
    if cfg.name == "smoot":
        # No extra forward, no second softmax: the controller reads the log-probabilities the
        # loss computed (under no_grad, exp builds no graph; no detach needed).
        with torch.no_grad():
            new_k = update_k(k, log_p.exp(), log_p_masked.exp(), y,
                             alpha=cfg.alpha, beta=cfg.beta, n=cfg.n,
                             k_min=cfg.k_min, k_max=cfg.k_max)
    return StepResult(loss, ce.detach(), kl.detach(), logits.detach(), new_k)
