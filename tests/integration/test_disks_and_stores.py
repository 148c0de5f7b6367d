"""Full and read-only disks, a damaged MLflow store (the second hostile pass, items 11 and 12):
one line and exit code 2, checked before anything is created where it can be; where a disk fills
mid-run, the previous checkpoint stays intact and no temporary file is left. The disks are real
tmpfs mounts made by the tests (skipped, with the reason, where the machine does not allow it)."""

import os
import time

import pytest

from tests.conftest import expect_one_line, run_job
from tests.helpers.small_disk import fill, remount_read_only, tmpfs

pytestmark = pytest.mark.integration


def _train(storage, *args, home=None):
    return run_job("train.py", "--workers", "0", "--train-subset", "200", "--test-subset", "100",
                   "--eval-images", "100", "--no-progress", "--storage-path", str(storage), *args,
                   env={"SMOOT_HOME": str(home)} if home else None)


def test_a_disk_too_small_for_a_checkpoint_is_refused_before_anything_exists(real_data_root, tmp_path):
    with tmpfs(tmp_path / "disk", "2m") as disk:
        r = _train(disk / "runs", "--no-tracking", "--run-name", "small")
        # 2 epochs of the CNN: two checkpoints of 13.7 MiB (weights and Adadelta's two buffers),
        # the final model and mask state
        expect_one_line(r, f"the disk holding {disk / 'runs' / 'small'} has 2.0 MiB free of 2.0 MiB, "
                           f"and this run needs about 33.0 MiB for its checkpoints and final files")
        assert os.listdir(disk) == []


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_keeps_the_last_checkpoint(real_data_root, tmp_path):
    """Room for the first checkpoint, then the disk fills (another program, here an epoch hook):
    the second checkpoint fails with one line, the first stays whole, nothing half-written
    stays; the same command on the full disk is refused before it writes anything."""
    from smoot_dist.config import build_config
    from smoot_dist.foundations.errors import UserError
    from smoot_dist.training.checkpoint import completed_epochs
    from smoot_dist.workflows.train import run_training

    with tmpfs(tmp_path / "disk", "60m") as disk:  # a checkpoint takes 14.5 MiB; 3 at the peak
        cfg = build_config(overrides={
            "data": {"dataset": "fashion_mnist", "train_subset": 200, "test_subset": 100},
            "train": {"epochs": 3, "device": "cpu", "eval_images": 0},  # the preflight wants 47 MiB
            "run": {"workers": 0, "run_name": "fills", "storage_path": str(disk), "progress": False},
            "tracking": {"enabled": False}})

        def fill_after_epoch_1(trainer, metrics):
            if trainer.epoch == 2:  # once epoch 1's checkpoint is written, leave 1 MiB
                # (it is written on a thread while epoch 2 trains: wait for its rename)
                published = disk / "fills" / "checkpoint_epoch_0001"
                for _ in range(3000):
                    if published.is_dir():
                        break
                    time.sleep(0.01)
                fill(disk, 2**20)

        with pytest.raises(UserError) as err:
            run_training(cfg, epoch_hooks=[fill_after_epoch_1])
        run = disk / "fills"
        assert str(err.value).startswith(f"the checkpoint of epoch 2 could not be written in {run}: "
                                         f"the disk is full (")
        assert "the checkpoint of epoch 1 is kept; free some space and run the same command again" \
            in str(err.value)
        assert sorted(p.name for p in run.iterdir()) == ["checkpoint_epoch_0001", "config.yaml",
                                                         "run.json", "run.lock"]
        assert completed_epochs(run / "checkpoint_epoch_0001", needs_mask=True) == 1
        record = (run / "run.json").read_bytes()
        r = _train(disk, "--no-tracking", "--run-name", "fills", "--epochs", "3",
                   "--eval-images", "0")
        expect_one_line(r, f"the disk holding {run} has ")
        assert (run / "run.json").read_bytes() == record and not list(run.glob("*.tmp"))
        (disk / "filler").unlink()
        again = _train(disk, "--no-tracking", "--run-name", "fills", "--epochs", "3",
                       "--eval-images", "0")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "resuming run fills after epoch 1" in again.stdout


def test_a_read_only_home_with_the_default_store_is_one_line(real_data_root, tmp_path):
    with tmpfs(tmp_path / "home", "4m") as home:
        remount_read_only(home)
        r = _train(tmp_path / "runs", "--run-name", "ro", home=home)
        expect_one_line(r, f"the MLflow store {home / 'mlflow.db'} cannot be written ({home} is "
                           f"read-only)")
        assert "ERROR" not in r.stdout + r.stderr  # MLflow's own logs stay quiet
        assert not (tmp_path / "runs").exists()  # checked before the run folder existed


@pytest.mark.slow
def test_a_damaged_sqlite_store_is_refused_before_training(real_data_root, tmp_path):
    ok = _train(tmp_path / "runs", "--run-name", "first", home=tmp_path / "home")
    assert ok.returncode == 0, ok.stderr[-2000:]
    db = tmp_path / "home" / "mlflow.db"
    with open(db, "r+b") as f:  # 8 KiB of noise in the middle of the database
        f.seek(db.stat().st_size // 2)
        f.write(os.urandom(8192))
    r = _train(tmp_path / "runs", "--run-name", "second", home=tmp_path / "home")
    expect_one_line(r, f"the MLflow store {db} is damaged (SQLite: database disk image is "
                       f"malformed)")
    assert not (tmp_path / "runs" / "second").exists()
