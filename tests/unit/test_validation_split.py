"""The validation split (--val-images): held out of the training data, class-balanced, seeded by
--split-seed, never trained on; what the trainer reports on it and what sweeps select on."""

from dataclasses import replace

import pytest
import torch

from smoot_dist.config import DataConfig, build_config
from smoot_dist.data.loading import load_splits
from smoot_dist.data.subset import held_out_validation
from smoot_dist.foundations.errors import ConfigError


def test_held_out_images_are_balanced_disjoint_and_seeded():
    labels = torch.arange(1000) % 4
    val, rest = held_out_validation(labels, 102, 4, split_seed=0)
    assert torch.bincount(labels[val]).tolist() == [26, 26, 25, 25]
    assert not set(val.tolist()) & set(rest.tolist()) and len(val) + len(rest) == 1000
    assert torch.equal(rest, rest.sort().values)
    again, _ = held_out_validation(labels, 102, 4, split_seed=0)
    other, _ = held_out_validation(labels, 102, 4, split_seed=1)
    assert torch.equal(val, again) and not torch.equal(val, other)
    with pytest.raises(ConfigError, match="--val-images 2000 exceeds"):
        held_out_validation(labels, 2000, 4, split_seed=0)


def test_a_train_subset_is_drawn_from_what_validation_leaves(real_data_root):
    plain = load_splits(DataConfig("fashion_mnist", train_subset=3000))
    held = load_splits(DataConfig("fashion_mnist", train_subset=3000, val_images=2000))
    assert plain.val is None
    assert len(held.train) == 3000 and len(held.val) == 2000
    assert torch.bincount(held.val.labels).tolist() == [200] * 10
    assert torch.bincount(held.train.labels).tolist() == [300] * 10
    assert not set(held.train_source_index.tolist()) & set(held.val_source_index.tolist())
    full = load_splits(DataConfig("fashion_mnist"))
    assert torch.equal(full.train.images[held.val_source_index], held.val.images)
    assert torch.equal(full.train.images[held.train_source_index], held.train.images)
    # without a subset: every image not held out is trained on
    whole = load_splits(DataConfig("mnist", val_images=1000))
    assert len(whole.train) == 59000
    assert sorted(whole.train_source_index.tolist() + whole.val_source_index.tolist()) == \
        list(range(60000))
    # the test split is untouched
    assert torch.equal(whole.test.images, load_splits(DataConfig("mnist")).test.images)


def test_the_trainer_reports_validation_accuracy_as_a_plain_loop_computes_it(real_data_root):
    from smoot_dist.training.trainer import Trainer
    from smoot_dist.data.loading import channel_stats, normalize

    cfg = build_config(overrides={
        "data": {"dataset": "mnist", "train_subset": 200, "test_subset": 100, "val_images": 150},
        "method": {"name": "traditional"}, "train": {"epochs": 1, "device": "cpu",
                                                     "eval_batch_size": 64}})
    trainer = Trainer(cfg, log=lambda line: None)
    got = trainer.evaluate()
    model, splits = trainer.model.eval(), trainer.splits
    mean, std = channel_stats(splits.spec, "cpu")
    for name, data in (("val", splits.val), ("test", splits.test)):
        with torch.no_grad():
            logits = model(normalize(data.images, mean, std))
        accuracy = (logits.argmax(1) == data.labels).double().mean().item()
        loss = torch.nn.functional.cross_entropy(logits.double(), data.labels).item()
        assert got[f"{name}_accuracy"] == pytest.approx(accuracy, abs=1e-12)
        assert got[f"{name}_loss"] == pytest.approx(loss, rel=1e-5)
    assert len(splits.val) == 150 and trainer.num_train == 200


def test_the_sweep_objective_fails_loudly_with_only_test_metrics(real_data_root):
    from smoot_dist.sweep.objective import NoValidationSplit, ObjectiveHook
    from smoot_dist.training.trainer import Trainer

    cfg = build_config(overrides={
        "data": {"dataset": "mnist", "train_subset": 100, "test_subset": 50},
        "train": {"epochs": 1, "device": "cpu"}})
    trainer = Trainer(cfg, log=lambda line: None)
    metrics = {"test_accuracy": 0.9, "auc_grad": 20.0}
    for objective in ("accuracy", "auc", "combined"):
        with pytest.raises(NoValidationSplit, match="pass --val-images N"):
            ObjectiveHook(objective, 50)(trainer, dict(metrics))
    # with a validation split, the objective is computed from it alone
    held = Trainer(replace(cfg, data=replace(cfg.data, val_images=60)), log=lambda line: None)
    metrics = {"test_accuracy": 0.9, "auc_grad": 20.0, **held.evaluate()}
    ObjectiveHook("combined", 40)(held, metrics)
    assert metrics["objective"] == pytest.approx(100 * metrics["val_accuracy"]
                                                 - metrics["val_auc_grad"])
    assert metrics["auc_grad"] == 20.0  # the test AUC is neither read nor replaced


def test_a_sweep_without_a_validation_split_gets_one(real_data_root):
    from smoot_dist.sweep.search import with_validation

    cfg = build_config(overrides={"data": {"dataset": "mnist", "train_subset": 3000}})
    held, n = with_validation(cfg)
    assert n == held.data.val_images == 300  # a tenth of the training images
    kept, n = with_validation(replace(cfg, data=replace(cfg.data, val_images=120)))
    assert n == kept.data.val_images == 120


def test_the_sweep_says_on_how_many_validation_images_each_objective_is_measured():
    from smoot_dist.sweep.search import objective_images_text

    assert objective_images_text("accuracy", 200, 100) == "200 validation images"
    assert objective_images_text("auc", 200, 100) == "100 validation images"
    assert objective_images_text("auc", 50, 100) == "50 validation images"  # at most all of them
    assert objective_images_text("combined", 200, 100) == \
        "accuracy on 200 validation images, AUC on 100 of them"
    assert objective_images_text("combined", 200, 1000) == "200 validation images"
