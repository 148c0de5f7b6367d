"""Saliency evaluation end to end: a task whose evidence sits in a known region, every
attribution method on a model trained on real Fashion-MNIST, determinism."""

import numpy as np
import pytest
import torch

from smoot_dist.config import DataConfig, build_config
from smoot_dist.data.loading import channel_stats, load_splits, normalize
from smoot_dist.training.trainer import Trainer
from smoot_dist.attribution import attribution_methods
from smoot_dist.metrics.faithfulness.drop import accuracy_drop
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


@pytest.fixture(scope="module")
def region_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("region")
    _region_task(root)
    cfg = build_config(overrides={
        "data": {"dataset": "cifar10", "root": str(root)},
        "model": {"name": "cnn", "patch_size": None}, "method": {"name": "traditional"},
        "train": {"epochs": 4, "lr": 1.0, "batch_size": 100, "device": "cpu"}})
    trainer = Trainer(cfg, **QUIET)
    history = trainer.fit()
    assert history[-1]["test_accuracy"] > 0.9  # the patch is learnable
    return trainer, load_splits(DataConfig("cifar10", str(root)))


@pytest.mark.slow
def test_grad_finds_the_region_that_carries_the_label(region_model):
    trainer, splits = region_model
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


@pytest.mark.slow
def test_every_attribution_method_on_a_real_fashion_mnist_model(fashion_model):
    model, splits = fashion_model
    test = splits.test.select(torch.arange(100))  # every method on one batch: the cost is theirs
    curves = accuracy_drop(model, test, splits.spec, list(attribution_methods()),
                           device=torch.device("cpu"), batch_size=100, progress=False)
    assert list(curves.accuracy) == list(attribution_methods())
    clean = {acc[0] for acc in curves.accuracy.values()}
    assert len(clean) == 1 and clean.pop() > 50  # d = 0 removes nothing: one clean accuracy
    for method, acc in curves.accuracy.items():
        assert len(acc) == 10 and all(0 <= a <= 100 for a in acc), method
        assert acc[-1] < acc[0], method  # removing 90% of the pixels hurts
        assert 0 < curves.auc[method] < 0.9 * acc[0] + 1e-9, method


@pytest.mark.slow
def test_evaluation_is_deterministic_for_a_seed(fashion_model):
    model, splits = fashion_model
    test = splits.test.select(torch.arange(96))  # two batches: the seed holds across batches
    run = lambda seed: accuracy_drop(model, test, splits.spec,  # noqa: E731
                                     ["smoothgrad", "gradient_shap", "random"],
                                     device=torch.device("cpu"), batch_size=48, seed=seed,
                                     progress=False).accuracy
    first = run(3)
    assert run(3) == first
    assert run(4)["random"] != first["random"]


@pytest.mark.slow
def test_localisation_puts_grad_on_the_region_and_random_at_its_share(region_model):
    """The battery's localisation with the task's own masks (the 8x8 patch, 6.25% of the image):
    Grad's mass and rank lie on the patch far above its share; Random's at the share."""
    from smoot_dist.evaluation.battery import battery_sums, means

    trainer, splits = region_model
    masks = torch.zeros(len(splits.test), 32, 32, dtype=torch.bool)
    masks[:, 12:20, 12:20] = True
    values = means(battery_sums(trainer.model, splits.test, splits.spec, ["grad", "random"],
                                ["localisation"], device=torch.device("cpu"), batch_size=200,
                                masks=masks.flatten(1)))
    assert values["object_share"] == pytest.approx(64 / 1024)
    assert values["relevance_mass_grad"] > 0.3 and values["relevance_rank_grad"] > 0.3
    assert values["pointing_game_grad"] > 0.5
    assert values["relevance_mass_random"] == pytest.approx(64 / 1024, abs=0.01)
    assert values["relevance_rank_random"] == pytest.approx(64 / 1024, abs=0.02)


@pytest.mark.slow
def test_mprt_and_pgd_on_a_real_fashion_mnist_model(fashion_model):
    """Grad's similarity to the trained model's map falls below 0.5 once every layer is
    randomised; PGD accuracy is at most the clean accuracy, and equals it at eps 0."""
    from smoot_dist.evaluation.battery import BatteryOptions, battery_sums, means

    model, splits = fashion_model
    test = splits.test.select(torch.arange(100))
    run = dict(device=torch.device("cpu"), batch_size=100)
    values = means(battery_sums(model, test, splits.spec, ["grad"], ["mprt", "pgd"], **run))
    curve = values["mprt_spearman_grad"]
    assert curve[0] == 1.0 and len(curve) == 5 and curve[-1] < 0.5
    mean, std = channel_stats(splits.spec, "cpu")
    with torch.no_grad():
        clean = (model(normalize(test.images, mean, std)).argmax(1) == test.labels).float().mean()
    assert values["pgd_accuracy"] <= float(clean)
    untouched = means(battery_sums(model, test, splits.spec, ["grad"], ["pgd"],
                                   options=BatteryOptions(pgd_eps=0.0), **run))
    assert untouched["pgd_accuracy"] == pytest.approx(float(clean))
