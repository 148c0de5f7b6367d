"""The epoch boundary off the critical path: checkpoints written on a thread from CPU copies,
each file hashed once (from its bytes) and never re-read to prune."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from smoot_dist.foundations.files import file_sha256
from smoot_dist.runs.folder import RunFolder
from smoot_dist.training import checkpoint as ckpt
from smoot_dist.training.background_writer import BackgroundWriter, cpu_copy
from smoot_dist.training.checkpoint import load_checkpoint, read_record
from smoot_dist.training.epoch_loop import CompletedEpoch


def _epoch(n: int, weight: torch.Tensor) -> CompletedEpoch:
    state = {"model": {"w": weight}, "optimizer": {"state": {0: {"acc": weight * 2}},
                                                   "param_groups": [{"lr": 1.0, "params": [0]}]},
             "epoch": n}
    return CompletedEpoch({"epoch": n}, state, torch.full((6,), 0.25), [{"epoch": i}
                                                                         for i in range(1, n + 1)], [])


def test_a_snapshot_does_not_change_when_training_changes_the_tensors_in_place():
    weight = torch.zeros(3)
    snap = _epoch(1, weight).snapshot()
    weight.add_(1.0)  # the next step's optimizer update
    assert torch.equal(snap.state["model"]["w"], torch.zeros(3))
    assert torch.equal(snap.state["optimizer"]["state"][0]["acc"], torch.zeros(3))
    nested = cpu_copy({"a": [torch.ones(2), (torch.ones(1), 3)], "b": "x"})
    assert isinstance(nested["a"][1], tuple) and nested["a"][1][1] == 3 and nested["b"] == "x"


def test_the_write_runs_on_another_thread_and_after_runs_on_the_callers_once_it_is_on_disk():
    release, threads, order = threading.Event(), [], []

    def write(item):
        threads.append(threading.current_thread())
        release.wait(5)
        order.append(("written", item))

    def after(item):
        threads.append(threading.current_thread())
        order.append(("after", item))

    writer = BackgroundWriter(write, after)
    writer.submit(1)
    writer.poll()  # still writing: nothing yet, and poll does not wait for it
    assert order == [] and writer.blocked_s < 1.0
    release.set()
    writer.wait()
    assert order == [("written", 1), ("after", 1)]
    assert threads[0] is not threading.main_thread() and threads[1] is threading.main_thread()
    writer.submit(2)  # the previous one is done: submit does not block
    writer.wait()
    assert order[-2:] == [("written", 2), ("after", 2)]


def test_submit_waits_for_the_write_in_flight_so_writes_never_overlap():
    active, most = [0], [0]

    def write(item):
        active[0] += 1
        most[0] = max(most[0], active[0])
        time.sleep(0.05)
        active[0] -= 1

    writer = BackgroundWriter(write)
    for item in range(4):
        writer.submit(item)
    writer.wait()
    assert most[0] == 1


def test_a_failed_write_raises_on_the_callers_thread_and_skips_its_after():
    afters = []

    def write(item):
        raise OSError(28, "No space left on device")

    writer = BackgroundWriter(write, afters.append)
    writer.submit(1)
    with pytest.raises(OSError, match="No space left"):
        for _ in range(500):  # poll between steps until the write has ended
            writer.poll()
            time.sleep(0.01)
    assert afters == []
    writer.wait()  # nothing in flight any more: returns


def test_each_checkpoint_file_is_hashed_once_and_never_again_to_prune(tmp_path, monkeypatch):
    reads = []
    real = ckpt.file_sha256
    monkeypatch.setattr(ckpt, "file_sha256", lambda p: reads.append(p) or real(p))
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    for n in (1, 2, 3, 4):  # each write prunes the checkpoints older than the newest two
        done = _epoch(n, torch.full((3,), float(n))).snapshot()
        folder.write_checkpoint(n, done.write)
    assert reads == []  # hashed from the bytes written, then known by inode, size and mtime
    kept = folder.checkpoints()
    assert [p.name for p in kept] == ["checkpoint_epoch_0003", "checkpoint_epoch_0004"]
    record = read_record(kept[-1], needs_mask=True)
    for name, digest in record["files"].items():  # the digests are those of the files
        assert digest == real(kept[-1] / name)
    state, k, _ = load_checkpoint(kept[-1], 6, needs_mask=True)
    assert torch.equal(state["model"]["w"], torch.full((3,), 4.0)) and torch.equal(k, torch.full((6,), 0.25))


def test_a_file_changed_after_it_was_written_is_hashed_again_and_found_damaged(tmp_path):
    folder = tmp_path / "c"
    _epoch(1, torch.ones(3)).snapshot().write(folder)
    state = folder / ckpt.STATE_FILE
    data = bytearray(state.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes, a later mtime
    time.sleep(0.01)
    state.write_bytes(bytes(data))
    assert ckpt.known_sha256(state) == file_sha256(state)
    with pytest.raises(ckpt.DamagedCheckpoint, match="altered or truncated"):
        read_record(folder, needs_mask=True)
