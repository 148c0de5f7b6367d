"""The one-process engine on real Fashion-MNIST: accuracy, K statistics, mask state, resume."""

import pytest
import torch

from smoot_dist.config import build_config
from smoot_dist.training.trainer import Trainer
from smoot_dist.method.mask_state import MaskState, global_k, read_mask_parquet, write_mask_parquet

pytestmark = pytest.mark.integration

P = 28 * 28


def _cfg(method, **train):
    return build_config(overrides={
        "data": {"dataset": "fashion_mnist", "train_subset": 4000, "test_subset": 2000},
        "method": {"name": method}, "train": {"epochs": 1, "seed": 0, "device": "cpu", **train}})


@pytest.fixture(scope="module")
def runs(real_data_root):
    out, steps = {}, []
    for method in ("traditional", "sgt", "smoot"):
        trainer = Trainer(_cfg(method), progress=False, log=lambda s: None,
                          on_step=steps.append if method == "smoot" else None)
        out[method] = (trainer, trainer.fit())
    out["smoot_steps"] = steps
    return out


# Measured on this 2-core machine (seed 0, 1 epoch of 4000 samples, 2000 test samples):
# traditional ~0.72, SGT = SMOOT ~0.69 (chance is 0.10); the bound leaves room for seeds.
@pytest.mark.parametrize("method", ["traditional", "sgt", "smoot"])
@pytest.mark.slow
def test_one_epoch_reaches_a_real_accuracy(runs, method):
    _, history = runs[method]
    assert history[-1]["test_accuracy"] >= 0.60
    assert history[-1]["train_ce"] < 2.0  # from ln(10) = 2.30 at the start


@pytest.mark.slow
def test_sgt_masks_round_k0_p_pixels_of_every_sample(runs):
    trainer, history = runs["sgt"]
    k = history[-1]["k"]
    assert (k["min"], k["median"], k["max"]) == (392, 392, 392)
    assert k["mean_fraction"] == pytest.approx(0.5) and k["n"] == 4000
    assert torch.equal(trainer.mask_state.k, torch.full((4000,), 0.5))


@pytest.mark.slow
def test_smoot_k_spreads_within_its_bounds(runs):
    trainer, history = runs["smoot"]
    k = history[-1]["k"]
    assert k["min"] < k["median"] < k["max"]
    assert round(0.2 * P) <= k["min"] and k["max"] <= round(0.8 * P)
    assert k["mean_fraction"] != pytest.approx(0.5, abs=1e-4)
    assert k["n"] == 4000 and trainer.mask_state.k.unique().numel() > 100


@pytest.mark.slow
def test_traditional_reports_k_zero_and_no_kl(runs):
    _, history = runs["traditional"]
    assert (history[-1]["k"]["min"], history[-1]["k"]["max"]) == (0, 0)
    assert history[-1]["train_kl"] == 0.0


@pytest.mark.slow
def test_first_smoot_epoch_equals_sgt(runs):
    # Every sample is visited once per epoch and starts at k0, so the controller's updates can
    # only act from the second epoch on: the first epoch of SMOOT is SGT's, step for step.
    sgt, smoot = runs["sgt"][1][0], runs["smoot"][1][0]
    for key in ("train_ce", "train_kl", "train_accuracy", "test_accuracy"):
        assert sgt[key] == smoot[key]


@pytest.mark.slow
def test_mask_state_parquet_round_trip_and_reshard(runs, tmp_path):
    trainer, _ = runs["smoot"]
    path = tmp_path / "mask_state.parquet"
    write_mask_parquet(path, trainer.mask_state.to_table())
    k = read_mask_parquet(path, 4000)
    assert torch.equal(k, trainer.mask_state.k)
    shards = [MaskState.from_global(k, r, 3) for r in range(3)]
    assert torch.equal(global_k([s.to_table() for s in shards], 4000), k)


@pytest.mark.slow
def test_same_seed_same_k_vector_and_metrics(real_data_root):
    # two runs, smaller than the module's: the same seed must give the same numbers at any size
    def fit():
        cfg = build_config(overrides={
            "data": {"dataset": "fashion_mnist", "train_subset": 800, "test_subset": 300},
            "method": {"name": "smoot"}, "train": {"epochs": 1, "seed": 7, "device": "cpu"}})
        trainer = Trainer(cfg, progress=False, log=lambda s: None)
        return trainer, trainer.fit()

    (trainer, history), (again, h2) = fit(), fit()
    assert torch.equal(again.mask_state.k, trainer.mask_state.k)
    assert trainer.mask_state.k.unique().numel() > 10  # the updates moved k

    def numbers(h):  # every epoch's numbers but its timings
        return [{k: v for k, v in e.items() if not k.endswith("_time_s")} for e in h]

    assert numbers(h2) == numbers(history)


@pytest.mark.slow
def test_resume_from_epoch_state_equals_an_uninterrupted_run(real_data_root, tmp_path):
    cfg = build_config(overrides={
        "data": {"dataset": "fashion_mnist", "train_subset": 1000, "test_subset": 500},
        "method": {"name": "smoot"}, "train": {"epochs": 2, "seed": 3, "device": "cpu"}})
    quiet = dict(progress=False, log=lambda s: None)
    straight = Trainer(cfg, **quiet)
    straight.fit()

    first = Trainer(cfg, **quiet)
    first.run_epoch()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    write_mask_parquet(tmp_path / "mask.parquet", first.mask_state.to_table())

    resumed = Trainer(cfg, **quiet)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True),
                            read_mask_parquet(tmp_path / "mask.parquet", 1000))
    assert resumed.epoch == 1
    resumed.fit()
    assert torch.equal(resumed.mask_state.k, straight.mask_state.k)
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_the_epoch_loop_resumed_from_its_own_checkpoint_equals_an_uninterrupted_run(
        real_data_root, tmp_path):
    """The shell both paths share (training/epoch_loop.py): each completed epoch handed to
    `save` once, in order, with the history so far; a loop restored from epoch 1's checkpoint
    ends where an uninterrupted loop ends, and records the resume."""
    from smoot_dist.training.epoch_loop import EpochLoop

    cfg = build_config(overrides={
        "data": {"dataset": "fashion_mnist", "train_subset": 1000, "test_subset": 500},
        "method": {"name": "smoot"}, "train": {"epochs": 2, "seed": 5, "device": "cpu"}})
    quiet = dict(progress=False, log=lambda s: None)
    straight = EpochLoop(Trainer(cfg, **quiet), workers=0)
    saved = []

    def save(done):
        saved.append((done.epoch, [h["epoch"] for h in done.history]))
        done.write(tmp_path / f"epoch{done.epoch}")

    straight.run(save)
    assert saved == [(1, [1]), (2, [1, 2])]
    whole = straight.outcome()

    resumed = EpochLoop(Trainer(cfg, **quiet), workers=0)
    resumed.restore(tmp_path / "epoch1")
    assert resumed.trainer.epoch == 1 and len(resumed.history) == 1
    resumed.run(lambda done: None)
    again = resumed.outcome()
    assert torch.equal(again.k_global, whole.k_global)
    for name, value in whole.model_state.items():
        assert torch.equal(again.model_state[name], value), name
    assert [h["epoch"] for h in again.history] == [1, 2]
    assert [r["epoch"] for r in again.resumes] == [1] and again.resumes[0]["workers"] == 0
    assert again.history[1]["test_accuracy"] == whole.history[1]["test_accuracy"]


@pytest.mark.slow
def test_progress_within_an_epoch_ends_on_the_epochs_own_numbers(runs):
    """Rank 0's reports (console lines in a log, MLflow's step metrics): spread over the epoch,
    the running means of the last one are the epoch's train CE and accuracy."""
    from smoot_dist.training.step_progress import report_steps

    trainer, history = runs["smoot"]
    reports, steps = runs["smoot_steps"], trainer.train_batches.steps()
    assert steps == 16  # 4000 samples, batch 256
    assert [r.step for r in reports] == sorted(report_steps(steps)) == list(range(1, 17))
    assert [r.global_step for r in reports] == list(range(1, 17))
    last = reports[-1]
    assert (last.images, last.step, last.epoch) == (4000, steps, 1)
    assert last.loss == pytest.approx(history[0]["train_ce"], rel=1e-9)
    assert last.accuracy == pytest.approx(history[0]["train_accuracy"], rel=1e-9)
    assert reports[0].loss > last.loss  # a running mean over a falling loss
    # a line about every 10%, none at the end (the epoch line follows)
    assert [r.step for r in reports if r.wants_line] == [2, 4, 5, 7, 8, 10, 12, 13, 15]
    assert reports[3].line().startswith("  epoch 1/1  step 4/16 (25%)  ")
