"""The method as a library (smoot_dist.method, docs/api.md): examples/own_loop.py, a plain PyTorch
loop, trains as the project's own Trainer does on the same batches, and runs as a user runs it."""

import copy
import importlib.util
import re
import subprocess

import torch

from smoot_dist.config import build_config
from smoot_dist.data.loading import normalize
from smoot_dist.data.sharding import mix_seed
from smoot_dist.foundations.errors import ConfigError
from smoot_dist.method import MaskState, MethodConfig, validate_method
from smoot_dist.training.trainer import Trainer
from tests.conftest import PYTHON, REPO


def _example():
    spec = importlib.util.spec_from_file_location("own_loop", REPO / "examples" / "own_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_loop_agrees_with_the_trainer_on_the_same_batches(real_data_root):
    cfg = build_config(overrides={"data": {"dataset": "fashion_mnist", "train_subset": 640},
                                  "method": {"name": "smoot"},
                                  "train": {"batch_size": 128, "epochs": 1, "eval_images": 0}})
    trainer = Trainer(cfg)
    model = copy.deepcopy(trainer.model)  # the same initial weights
    batches = [(idx, normalize(images, trainer.mean, trainer.std), y)
               for idx, images, y in trainer.train_batches.epoch(0)]
    state = MaskState.initial(trainer.num_train, cfg.method.k0)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=cfg.train.lr)
    torch.manual_seed(mix_seed(cfg.train.seed, 0, 0, 1))  # the Trainer's seed for epoch 0
    ce = _example().train_epoch(model, optimizer, batches, cfg.method, state)

    metrics = trainer.train_epoch()
    sizes = [idx.numel() for idx, _, _ in batches]
    assert len(ce) == 5
    assert abs(sum(c * n for c, n in zip(ce, sizes)) / sum(sizes) - metrics["train_ce"]) < 1e-5
    # k moved (SMOOT), and moved the same for every sample
    assert (state.k != cfg.method.k0).sum() > 100
    torch.testing.assert_close(state.k, trainer.mask_state.k, rtol=0, atol=1e-5)
    for mine, theirs in zip(model.parameters(), trainer.model.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_the_example_runs_as_a_user_runs_it(real_data_root):
    r = subprocess.run([PYTHON, str(REPO / "examples" / "own_loop.py"), "--images", "512",
                        "--method", "smoot"], capture_output=True, text=True, timeout=300,
                       cwd=str(REPO))
    assert r.returncode == 0, r.stdout + r.stderr
    line = re.fullmatch(r"epoch 1/1  ce ([\d.]+)  K min/median/max (\d+)/([\d.]+)/(\d+)  "
                        r"k_mean ([\d.]+)", r.stdout.strip())
    assert line, r.stdout
    low, median, high = int(line[2]), float(line[3]), int(line[4])
    # SMOOT moved k within its bounds [0.2, 0.8] of 784 pixels, from k0 = 0.5 (392 pixels)
    assert round(0.2 * 784) <= low < 392 < high <= round(0.8 * 784) and low <= median <= high


def test_a_method_made_by_hand_is_checked_as_a_job_checks_it():
    for bad, says in ((MethodConfig(name="smot"), "unknown method 'smot'"),
                      (MethodConfig(k_min=0.6, k_max=0.4), "k_min (0.6) must be below k_max"),
                      (MethodConfig(k0=0.9), "k0 (0.9) must lie within [k_min, k_max]")):
        try:
            validate_method(bad)
        except ConfigError as err:
            assert says in str(err), str(err)
        else:
            raise AssertionError(f"{bad} passed")
