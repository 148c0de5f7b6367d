"""Saliency evaluation end to end: a task whose evidence sits in a known region, every
attribution method on a model trained on real Fashion-MNIST, determinism."""

import numpy as np
import pytest
import torch

from smoot_dist.config import DataConfig, build_config
from smoot_dist.data.loading import load_splits
from smoot_dist.training.trainer import Trainer
from smoot_dist.evaluation.attribution import ATTRIBUTION_METHODS
from smoot_dist.evaluation.drop import accuracy_drop
from tests.helpers.cifar_layout import write_cifar

pytestmark = pytest.mark.integration

QUIET = dict(progress=False, log=lambda s: None)


def _region_task(root):
    """CIFAR-layout files: noise everywhere, the label only in a fixed 8x8 patch (6% of pixels)."""
    patterns = np.random.default_rng(123).integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)

    def images(labels, rng):
        x = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
        x[:, :, 12:20, 12:20] = patterns[labels]
        return x

    write_cifar(root, per_batch=300, test=400, seed=5, image_fn=images)


def test_grad_finds_the_region_that_carries_the_label(tmp_path):
    _region_task(tmp_path)
    cfg = build_config(overrides={
        "data": {"dataset": "cifar10", "root": str(tmp_path)},
        "model": {"name": "cnn", "patch_size": None}, "method": {"name": "traditional"},
        "train": {"epochs": 4, "lr": 1.0, "batch_size": 100, "device": "cpu"}})
    trainer = Trainer(cfg, **QUIET)
    history = trainer.fit()
    assert history[-1]["test_accuracy"] > 0.9  # the patch is learnable
    splits = load_splits(DataConfig("cifar10", str(tmp_path)))
    curves = accuracy_drop(trainer.model, splits.test, splits.spec, ["grad", "random"],
                           device=torch.device("cpu"), batch_size=200, progress=False)
    # Removing the top 10% by Grad takes the patch; random removal leaves most of it.
    assert curves.accuracy["grad"][1] < 50 < curves.accuracy["random"][1]
    assert curves.auc["grad"] < curves.auc["random"] - 10


@pytest.fixture(scope="module")
def fashion_model(real_data_root):
    cfg = build_config(overrides={
        "data": {"dataset": "fashion_mnist", "train_subset": 2000},
        "method": {"name": "smoot"}, "train": {"epochs": 1, "device": "cpu"}})
    trainer = Trainer(cfg, **QUIET)
    trainer.fit()
    splits = load_splits(DataConfig("fashion_mnist", test_subset=200))
    return trainer.model, splits


def test_every_attribution_method_on_a_real_fashion_mnist_model(fashion_model):
    model, splits = fashion_model
    curves = accuracy_drop(model, splits.test, splits.spec, list(ATTRIBUTION_METHODS),
                           device=torch.device("cpu"), batch_size=100, progress=False)
    assert list(curves.accuracy) == list(ATTRIBUTION_METHODS)
    clean = {acc[0] for acc in curves.accuracy.values()}
    assert len(clean) == 1 and clean.pop() > 50  # d = 0 removes nothing: one clean accuracy
    for method, acc in curves.accuracy.items():
        assert len(acc) == 10 and all(0 <= a <= 100 for a in acc), method
        assert acc[-1] < acc[0], method  # removing 90% of the pixels hurts
        assert 0 < curves.auc[method] < 0.9 * acc[0] + 1e-9, method


def test_evaluation_is_deterministic_for_a_seed(fashion_model):
    model, splits = fashion_model
    run = lambda seed: accuracy_drop(model, splits.test, splits.spec,  # noqa: E731
                                     ["smoothgrad", "gradient_shap", "random"],
                                     device=torch.device("cpu"), batch_size=64, seed=seed,
                                     progress=False).accuracy
    first = run(3)
    assert run(3) == first
    assert run(4)["random"] != first["random"]
