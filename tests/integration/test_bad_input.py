"""The bad-input matrix: each case one line on stderr, exit code 2, no traceback, nothing lost."""

import shutil

import pytest
import torch

from smoot_dist.models.cnn import MnistCNN
from tests.conftest import expect_one_line, run_job
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def _train(tmp_path, *args, env=None):
    return run_job("train.py", "--workers", "0", "--epochs", "1", "--train-subset", "200",
                   "--test-subset", "100", "--no-tracking", "--storage-path", str(tmp_path / "runs"),
                   *args, env=env)


@pytest.mark.parametrize("args,message", [
    (["--k-min", "-0.1"], "k_min is a fraction of the pixels and must lie in [0, 1], got -0.1"),
    (["--k-max", "1.5"], "k_max is a fraction of the pixels and must lie in [0, 1], got 1.5"),
    (["--k0", "0.1"], "k0 (0.1) must lie within [k_min, k_max] = [0.2, 0.8] for smoot"),
    (["--lambda", "nan"], "lambda must be a finite number, got nan"),
    (["--top-n", "0"], "n (top-n classes) must be >= 1, got 0"),
    (["--epochs", "0"], "epochs must be >= 1, got 0"),
    (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["--lr", "0"], "lr must be a positive number, got 0.0"),
    (["--precision", "fp8"], "unknown precision 'fp8'"),
    (["--train-subset", "70000"], "--train-subset 70000 exceeds the 60000 train samples"),
    (["--input-size", "5"], "the cnn needs images of at least 6x6 pixels, got 5x5"),
    (["--model", "vit_tiny_patch16_224", "--input-size", "8"],
     "model vit_tiny_patch16_224 cannot take Fashion-MNIST's 1x28x28 images"),
    # 4 steps: the first update explodes, the next losses are NaN
    (["--lr", "1e30", "--train-subset", "1000"], "the loss became NaN in epoch 1; lower --lr or --lambda"),
    (["--top-n", "50"], "--top-n 50 is more than the 10 classes of Fashion-MNIST; give --top-n 10 "
                        "or fewer"),  # was: silently used as 10
])
def test_out_of_range_and_impossible_settings(real_data_root, tmp_path, args, message):
    expect_one_line(_train(tmp_path, *args), message)


@pytest.mark.parametrize("text,message", [
    ("method:\n  beta: 0.9\n  gamma: 2\n", "unknown key method.gamma in"),
    ("train:\n  epochs: many\n", "train.epochs in"),
    ("train: [1, 2]\n", "section 'train' in"),
    ("method: {k0: 0.5\n", "is not valid YAML at line"),
    ("data: [a, b]\n", "section 'data' in"),  # was: AttributeError
    ("data: {dataset: [a, b]}\n", "data.dataset in"),  # was: unhashable TypeError
    # a "billion laughs": 10 levels of 9 aliases, 3.5 billion values (was: memory until killed)
    ("l0: &l0 [a, a, a, a, a, a, a, a, a]\n"
     + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
     + "train: {epochs: *l9}\n", "expands to more than 10000 values"),
])
def test_bad_config_files(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    expect_one_line(_train(tmp_path, "--config", str(f)), message)


def test_corrupt_data_names_the_command_that_rebuilds_it(real_data_root, tmp_path):
    shutil.copytree(real_data_root / "FashionMNIST", tmp_path / "data" / "FashionMNIST")
    images = tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])  # truncated
    r = _train(tmp_path, env={"SMOOT_DATA_DIR": str(tmp_path / "data")})
    expect_one_line(r, "is corrupt")
    assert "prepare_data.py fashion_mnist" in r.stderr


def test_pretrained_weights_that_do_not_fit(real_data_root, tmp_path):
    path = tmp_path / "w.pt"
    torch.save(MnistCNN(num_classes=7).state_dict(), path)  # another head
    expect_one_line(_train(tmp_path, "--pretrained", str(path)), "do not fit the cnn")
    path.write_bytes(b"garbage")
    expect_one_line(_train(tmp_path, "--pretrained", str(path)), "cannot read pretrained weights")


def test_unreachable_ray_address_fails_fast(real_data_root, tmp_path):
    r = run_job("train.py", "--workers", "1", "--ray-address", f"127.0.0.1:{free_port()}",
                "--train-subset", "200", "--no-tracking", "--storage-path", str(tmp_path / "runs"),
                timeout=60)
    expect_one_line(r, "cannot reach the Ray cluster at 127.0.0.1:")
    assert not (tmp_path / "runs").exists()  # failed before creating anything


@pytest.mark.slow
def test_a_bad_retry_of_an_existing_run_changes_nothing(real_data_root, tmp_path):
    ok = _train(tmp_path, "--run-name", "kept")
    assert ok.returncode == 0, ok.stderr[-2000:]
    folder = tmp_path / "runs" / "kept"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    r = _train(tmp_path, "--run-name", "kept", "--beta", "0.5")
    expect_one_line(r, "run 'kept' exists with another config (method.beta was 0.95, now 0.5)")
    # --resume takes the run's recorded config; a flag that would change what it learns is
    # refused the same way, and so is a config file beside it or a run that is not there
    storage = ("--storage-path", str(tmp_path / "runs"))
    r = run_job("train.py", "--resume", "kept", "--beta", "0.5", *storage)
    expect_one_line(r, "run 'kept' exists with another config (method.beta was 0.95, now 0.5)")
    r = run_job("train.py", "--resume", "--config", str(folder / "config.yaml"), *storage)
    expect_one_line(r, "--resume continues a run with the config it recorded; drop --config")
    r = run_job("train.py", "--resume", "gone", *storage)
    expect_one_line(r, "--resume: no run named 'gone' under")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_divergence_keeps_the_last_good_checkpoint(real_data_root, tmp_path, monkeypatch):
    """In-process: epoch 2 diverges; the run folder keeps epoch 1's checkpoint, and the run
    continues from it once the cause is gone."""
    from smoot_dist.config import build_config
    from smoot_dist.training.checkpoint import completed_epochs
    from smoot_dist.workflows.train import run_training
    from smoot_dist.training.trainer import Trainer, TrainingDiverged

    cfg = build_config(overrides={"data": {"dataset": "fashion_mnist", "train_subset": 300,
                                           "test_subset": 100},
                                  "method": {"name": "smoot"}, "train": {"epochs": 2, "device": "cpu"},
                                  "run": {"workers": 0, "run_name": "diverges",
                                          "storage_path": str(tmp_path), "progress": False},
                                  "tracking": {"enabled": False}})
    original = Trainer.train_epoch

    def diverge_in_epoch_2(self):
        if self.epoch == 1:
            raise TrainingDiverged("the loss became NaN in epoch 2; lower --lr or --lambda")
        return original(self)

    monkeypatch.setattr(Trainer, "train_epoch", diverge_in_epoch_2)
    with pytest.raises(TrainingDiverged):
        run_training(cfg)
    assert completed_epochs(tmp_path / "diverges" / "checkpoint_epoch_0001") == 1
    assert not list((tmp_path / "diverges").glob("checkpoint_epoch_0002*"))
    monkeypatch.setattr(Trainer, "train_epoch", original)
    summary = run_training(cfg)  # the same run again: it continues after epoch 1
    assert [r["epoch"] for r in summary["resumes"]] == [1]
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2]
