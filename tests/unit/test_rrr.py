"""RRR (method/rrr.py): the annotated squared input gradient against a plain per-image reference,
its own gradient against finite differences, and what a job accepts."""

import pytest
import torch
from torch import nn

from smoot_dist.config import MethodConfig, build_config
from smoot_dist.foundations.errors import ConfigError
from smoot_dist.method.rrr import rrr_loss
from smoot_dist.method.step import method_step


def _tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def _batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 2, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randint(3, (5,), generator=g)
    annotation = torch.rand(5, 16, generator=g) < 0.3
    return x, y, annotation


def test_the_penalty_equals_a_plain_per_image_reference():
    model, (x, y, annotation) = _tiny(), _batch()
    out = rrr_loss(model, x, y, annotation, lam=2.5)
    reference = []
    for i in range(len(y)):  # one image at a time: its own gradient, squared, summed where annotated
        xi = x[i:i + 1].clone().requires_grad_(True)
        grad, = torch.autograd.grad(torch.log_softmax(model(xi), dim=1).sum(), xi)
        squared = grad[0].pow(2).sum(dim=0).flatten()  # channels summed, per pixel
        reference.append(squared[annotation[i]].sum())
    penalty = torch.stack(reference).mean()
    ce = nn.functional.cross_entropy(model(x), y)
    assert torch.allclose(out.penalty.double(), penalty, rtol=1e-6)
    assert torch.allclose(out.total.double(), ce + 2.5 * penalty, rtol=1e-6)
    assert out.penalty > 0


def test_an_empty_annotation_leaves_the_cross_entropy_and_its_gradient():
    model, (x, y, _) = _tiny(), _batch()
    out = rrr_loss(model, x, y, torch.zeros(5, 16, dtype=torch.bool), lam=100.0)
    assert out.penalty.item() == 0.0 and torch.equal(out.total, out.ce)
    rrr_grads = torch.autograd.grad(out.total, list(model.parameters()))
    ce_grads = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.parameters()))
    for a, b in zip(rrr_grads, ce_grads):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_the_penalty_trains_the_weights_by_its_true_gradient():
    """Double backpropagation: d penalty / d weight from autograd against central differences."""
    model, (x, y, annotation) = _tiny(), _batch()
    weight = model[1].weight
    penalty = rrr_loss(model, x, y, annotation, lam=1.0).penalty
    grad, = torch.autograd.grad(penalty, weight)
    eps = 1e-6
    for (r, c) in [(0, 0), (2, 5), (5, 31), (3, 17)]:
        values = []
        for step in (eps, -2 * eps, eps):  # up, down, back
            with torch.no_grad():
                weight[r, c] += step
            values.append(rrr_loss(model, x, y, annotation, 1.0).penalty.item())
        up, down = values[:2]
        assert grad[r, c].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)
    assert grad.abs().sum() > 0


def test_the_step_reports_the_penalty_and_needs_the_annotation():
    model, (x, y, annotation) = _tiny(), _batch()
    cfg = MethodConfig(name="rrr", rrr_lam=3.0)
    out = method_step(cfg, model, model, x, y, None, annotation=annotation)
    direct = rrr_loss(model, x, y, annotation, 3.0)
    assert out.kl.item() == pytest.approx(direct.penalty.item())
    assert out.new_k is None and out.loss.requires_grad
    with pytest.raises(ValueError, match="annotation"):
        method_step(cfg, model, model, x, y, None)


def test_a_job_takes_rrr_only_where_the_data_carries_annotations():
    cfg = build_config(overrides={"data": {"dataset": "decoy_mnist"}, "method": {"name": "rrr"}})
    assert cfg.method.rrr_lam > 0
    with pytest.raises(ConfigError, match="annotation masks, which mnist does not carry"):
        build_config(overrides={"data": {"dataset": "mnist"}, "method": {"name": "rrr"}})
    for option in ("cuda_graph", "compile"):
        with pytest.raises(ConfigError, match=f"--{option.replace('_', '-')} does not take rrr's"):
            build_config(overrides={"data": {"dataset": "decoy_mnist"}, "method": {"name": "rrr"},
                                    "train": {option: True}})


def test_an_image_folder_brings_rrrs_annotation_as_object_masks(real_data_root, tmp_path):
    """--annotation-masks: each training image's mask (non-zero: object) by the folder's layout;
    RRR's annotation is everything off the object, row for row with the training images that
    remain after the validation split and the subset."""
    import numpy as np
    from PIL import Image

    from smoot_dist.data.loading import load_splits
    from tests.helpers.image_tree import write_fashion_tree

    root = write_fashion_tree(tmp_path / "tree", train_per_class=6, val_per_class=2)
    masks = tmp_path / "masks"
    for image in (root / "train").rglob("*.png"):
        target = masks / image.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(((np.asarray(Image.open(image)) > 0) * 255).astype(np.uint8)).save(target)
    cfg = build_config(overrides={
        "data": {"dataset": f"imagefolder:{root}", "annotation_masks": str(masks),
                 "val_images": 10, "train_subset": 30},
        "method": {"name": "rrr"}})
    splits = load_splits(cfg.data)
    assert len(splits.train) == 30 and splits.train_annotation.shape == (30, 28 * 28)
    assert torch.equal(splits.train_annotation, ~(splits.train.images[:, 0] > 0).flatten(1))
    # and a Trainer trains on it: the penalty (the epoch's second term) is measured
    from smoot_dist.training.trainer import Trainer

    lines = []
    trainer = Trainer(build_config(overrides={
        "data": {"dataset": f"imagefolder:{root}", "annotation_masks": str(masks),
                 "val_images": 10, "train_subset": 30},
        "method": {"name": "rrr"}, "train": {"batch_size": 16, "device": "cpu", "epochs": 1}}),
        progress=False, log=lines.append)
    assert torch.equal(trainer.annotations, splits.train_annotation)
    [epoch] = trainer.fit()
    assert epoch["train_kl"] > 0
    # ... and the console names it: RRR's second term is its penalty, not a KL
    [line] = [line for line in lines if line.startswith("epoch 1/1 ")]
    assert f"  penalty {epoch['train_kl']:.4f}  " in line and " kl " not in line
    # refused where it cannot be RRR's annotation; a missing mask is one line
    with pytest.raises(ConfigError, match="--annotation-masks are RRR's annotation"):
        build_config(overrides={"data": {"dataset": f"imagefolder:{root}",
                                         "annotation_masks": str(masks)}})
    next(masks.rglob("*.png")).unlink()
    from smoot_dist.foundations.errors import DataError
    with pytest.raises(DataError, match="give each train image a mask"):
        load_splits(cfg.data)
