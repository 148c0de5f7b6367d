"""launch/older_checkpoint.py against a real S3-compatible server (moto, on 127.0.0.1): a damaged
latest checkpoint at the storage path is copied aside there, untouched, and the newest intact one
before it is found; with none, one line."""

import pytest
import torch

from smoot_dist.foundations.errors import UserError
from smoot_dist.launch.older_checkpoint import damage_of, older_intact
from smoot_dist.training.checkpoint import save_checkpoint

CHECKS = {"num_samples": 6, "needs_mask": True, "k_bounds": None}


def _checkpoint(folder, epochs: int):
    state = {"model": {"w": torch.full((2,), float(epochs))}, "optimizer": {}, "epoch": epochs}
    history = [{"epoch": e} for e in range(1, epochs + 1)]
    return save_checkpoint(folder, state, torch.full((6,), 0.5), history)


@pytest.fixture
def run(s3_server, tmp_path, request):
    """A run's prefix on the server holding checkpoints of 1 and 2 epochs, the latest damaged."""
    fs = s3_server.filesystem()
    prefix = f"bucket/unit-older-checkpoint/{request.node.name}"
    for name, epochs in (("checkpoint_2026-12-08_01-00-00.000001", 1),
                         ("checkpoint_2026-12-08_01-00-10.000001", 2)):
        local = _checkpoint(tmp_path / name, epochs)
        for f in local.iterdir():
            with fs.open_output_stream(f"{prefix}/{name}/{f.name}") as out:
                out.write(f.read_bytes())
    latest = f"{prefix}/checkpoint_2026-12-08_01-00-10.000001"
    with fs.open_output_stream(f"{latest}/state.pt") as out:
        out.write(b"not a checkpoint")
    return fs, prefix, latest


def test_a_damaged_latest_is_kept_aside_and_the_one_before_is_used(s3_server, run, tmp_path):
    fs, prefix, latest = run
    before = s3_server.objects(latest)
    local = tmp_path / "latest"
    for key, data in before.items():
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_bytes(data)
    reason = damage_of(local, CHECKS)
    assert reason.startswith("state.pt")
    with older_intact(fs, latest, reason, CHECKS, keep=True) as (folder, warning):
        assert folder.name == "checkpoint_2026-12-08_01-00-00.000001"
        assert damage_of(folder, CHECKS) is None
        assert torch.load(folder / "state.pt")["epoch"] == 1
    assert warning == (f"warning: skipping damaged checkpoint "
                       f"checkpoint_2026-12-08_01-00-10.000001 ({reason}); kept as "
                       f"{latest}.damaged; resuming from checkpoint_2026-12-08_01-00-00.000001 "
                       f"(epoch 1)")
    # the evidence: a copy beside it, byte for byte, and the damaged one itself untouched
    assert s3_server.objects(latest + ".damaged") == before
    assert s3_server.objects(latest) == before
    # a second worker (keep=False) and a later restart find the copy made once
    with older_intact(fs, latest, reason, CHECKS, keep=False) as (folder, _):
        assert folder.name == "checkpoint_2026-12-08_01-00-00.000001"
    with older_intact(fs, latest, reason, CHECKS, keep=True) as (folder, _):
        pass
    assert sorted({k.split("/")[0] for k in s3_server.objects(prefix)}) == [
        "checkpoint_2026-12-08_01-00-00.000001", "checkpoint_2026-12-08_01-00-10.000001",
        "checkpoint_2026-12-08_01-00-10.000001.damaged"]


def test_with_no_intact_one_before_it_one_line_says_so(s3_server, run):
    fs, prefix, latest = run
    fs.delete_dir(f"{prefix}/checkpoint_2026-12-08_01-00-00.000001")
    with pytest.raises(UserError, match=r"checkpoint checkpoint_2026-12-08_01-00-10.000001 of the "
                                        r"run at the storage path is damaged \(boom\), and there "
                                        r"is no older intact one there; it is kept as "
                                        r".*\.damaged: choose another --run-name"):
        with older_intact(fs, latest, "boom", CHECKS, keep=True):
            pass
    assert s3_server.objects(latest + ".damaged") == s3_server.objects(latest)
