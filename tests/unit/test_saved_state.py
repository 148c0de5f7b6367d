"""Saved state is never lost silently: damaged checkpoints are found and skipped (or stop the
run), checkpoint writes survive kills at any point, mask-state files are checked, run folders
are locked."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from smoot_dist.foundations.errors import UserError
from smoot_dist.method.mask_state import read_mask_parquet
from smoot_dist.runs.folder import RunFolder, RunSpec, lock_run
from smoot_dist.training import checkpoint as ckpt
from smoot_dist.training.checkpoint import (DamagedCheckpoint, ResumePoint, completed_epochs,
                                            intact_epochs, load_checkpoint, newest_intact,
                                            read_record, save_checkpoint)

N = 8


def _state(epoch: int) -> dict:
    return {"model": {"w": torch.full((3,), float(epoch))}, "optimizer": {}, "epoch": epoch}


def _save(folder, epochs: int, k: float = 0.5):
    return save_checkpoint(folder, _state(epochs), torch.full((N,), k),
                           [{"epoch": e} for e in range(1, epochs + 1)])


@pytest.mark.parametrize("damage,reason", [
    (lambda f: (f / "history.json").unlink(), "history.json is missing"),
    (lambda f: (f / "history.json").write_text("{not json"), "history.json is not valid JSON"),
    (lambda f: (f / "history.json").write_text("[1, 2]"), "holds no epoch history"),
    (lambda f: (f / "state.pt").unlink(), "state.pt is missing"),
    (lambda f: (f / "mask_state.parquet").unlink(), "mask_state.parquet is missing"),
    (lambda f: (f / "state.pt").write_bytes((f / "state.pt").read_bytes()[:-50]),
     "state.pt was altered or truncated"),
    (lambda f: torch.save({}, f / "state.pt"), "state.pt was altered or truncated"),
])
def test_every_kind_of_damage_is_named(tmp_path, damage, reason):
    folder = _save(tmp_path / "c", 2)
    assert completed_epochs(folder, needs_mask=True) == 2
    damage(folder)
    with pytest.raises(DamagedCheckpoint, match=reason):
        read_record(folder, needs_mask=True)
    assert completed_epochs(folder, needs_mask=True) == -1


def test_a_missing_mask_state_is_damage_only_where_the_run_masks(tmp_path):
    folder = save_checkpoint(tmp_path / "c", _state(1), None, [{"epoch": 1}])  # traditional
    assert completed_epochs(folder, needs_mask=False) == 1
    assert completed_epochs(folder, needs_mask=True) == -1


def test_an_old_format_checkpoint_holding_an_empty_state_is_refused(tmp_path):
    folder = _save(tmp_path / "c", 1)
    record = json.loads((folder / "history.json").read_text())
    del record["files"]  # as written before checksums were recorded
    (folder / "history.json").write_text(json.dumps(record))
    torch.save({}, folder / "state.pt")
    with pytest.raises(DamagedCheckpoint, match="state.pt lacks one of model, optimizer, epoch"):
        load_checkpoint(folder, N)


def test_the_newest_intact_checkpoint_is_taken_and_the_damaged_one_named(tmp_path):
    older, newer = _save(tmp_path / "checkpoint_a", 1), _save(tmp_path / "checkpoint_b", 2)
    assert newest_intact([older, newer], N, needs_mask=True) == ResumePoint(newer, 2, [])
    (newer / "state.pt").write_bytes(b"")
    before = {p.name: p.read_bytes() for p in newer.iterdir()}
    point = newest_intact([older, newer], N, needs_mask=True)
    assert (point.folder, point.epochs) == (older, 1)
    (damaged,) = point.damaged
    assert damaged.folder == newer and "state.pt was altered or truncated" in damaged.reason
    assert {p.name: p.read_bytes() for p in newer.iterdir()} == before  # never touched


def test_with_no_intact_checkpoint_the_run_stops(tmp_path):
    only = _save(tmp_path / "checkpoint_a", 1)
    (only / "history.json").unlink()
    with pytest.raises(UserError, match="history.json is missing.*no older intact checkpoint; "
                                        "nothing was changed"):
        newest_intact([only], N, needs_mask=True)
    assert newest_intact([], N) == ResumePoint()


def _rewrite_history(folder, history):
    record = json.loads((folder / "history.json").read_text())
    record["history"] = history
    (folder / "history.json").write_text(json.dumps(record))


def test_an_epoch_count_that_disagrees_with_the_state_is_damage(tmp_path):
    """history.json is not covered by a checksum (it holds them): its epochs are cross-checked
    with themselves and with state.pt's epoch, never trusted by their count."""
    inflated = _save(tmp_path / "checkpoint_b", 2)
    _rewrite_history(inflated, [{"epoch": 1}, {"epoch": 2}, {"epoch": 2}, {"epoch": 2}])
    with pytest.raises(DamagedCheckpoint, match=r"lists epochs \[1,2,2,2\], not 1 to 4 once each"):
        read_record(inflated, needs_mask=True)
    renumbered = _save(tmp_path / "checkpoint_c", 2)
    _rewrite_history(renumbered, [{"epoch": e} for e in (1, 2, 3, 4)])  # consistent, but not state.pt's
    assert completed_epochs(renumbered, needs_mask=True) == 4  # the cheap check cannot see it
    with pytest.raises(DamagedCheckpoint, match="state.pt holds epoch 2 but history.json lists 4"):
        load_checkpoint(renumbered, N, needs_mask=True)
    older = _save(tmp_path / "checkpoint_a", 1)
    point = newest_intact([older, inflated, renumbered], N, needs_mask=True)
    assert (point.folder, point.epochs) == (older, 1)
    assert sorted(d.folder.name for d in point.damaged) == ["checkpoint_b", "checkpoint_c"]
    assert intact_epochs(renumbered, N, needs_mask=True) == -1
    assert intact_epochs(older, N, needs_mask=True) == 1


def test_a_damaged_checkpoint_is_kept_aside_and_never_pruned(tmp_path):
    """The run's own damaged checkpoint is renamed `.damaged`; Ray Train's is copied (Ray keeps
    its own record of it); neither is listed, pruned or overwritten later."""
    folder = RunFolder(tmp_path / "run")
    for epoch in (1, 2):
        folder.write_checkpoint(epoch, lambda d, e=epoch: _save(d, e))
    own = folder.path / "checkpoint_epoch_0002"
    (own / "state.pt").write_bytes(b"flipped")
    kept = folder.set_aside(own)
    assert kept.name == "checkpoint_epoch_0002.damaged" and not own.exists()
    assert (kept / "state.pt").read_bytes() == b"flipped"
    ray_own = _save(folder.path / "checkpoint_2026-12-02_10-00-00.123456", 2)
    (ray_own / "state.pt").write_bytes(b"flipped")
    copy = folder.set_aside(ray_own)
    assert ray_own.is_dir() and copy.name == ray_own.name + ".damaged"
    assert folder.set_aside(ray_own) == copy  # a later run finds the copy made already
    for epoch in (2, 3, 4):  # the run goes on: writes and prunes
        folder.write_checkpoint(epoch, lambda d, e=epoch: _save(d, e))
    assert (kept / "state.pt").read_bytes() == b"flipped" and (copy / "state.pt").is_file()
    assert [p.name for p in folder.checkpoints()] == [
        ray_own.name, "checkpoint_epoch_0003", "checkpoint_epoch_0004"]
    # a damaged copy of an epoch met while writing that epoch again is kept aside too
    (folder.path / "checkpoint_epoch_0004" / "state.pt").write_bytes(b"x")
    folder.write_checkpoint(4, lambda d: _save(d, 4))
    assert (folder.path / "checkpoint_epoch_0004.damaged" / "state.pt").read_bytes() == b"x"
    assert completed_epochs(folder.path / "checkpoint_epoch_0004", needs_mask=True) == 4


def test_smoot_k_outside_its_bounds_is_damage(tmp_path):
    k = torch.full((N,), 0.5).clamp_(0.2, 0.8)
    k[0], k[1] = 0.2, 0.8
    k = k.clamp(0.2, 0.8)  # float32 bounds, as SMOOT writes them
    folder = save_checkpoint(tmp_path / "c", _state(1), k, [{"epoch": 1}])
    load_checkpoint(folder, N, needs_mask=True, k_bounds=(0.2, 0.8))
    bad = save_checkpoint(tmp_path / "d", _state(1), torch.full((N,), 0.9), [{"epoch": 1}])
    with pytest.raises(DamagedCheckpoint, match=r"outside \[k_min, k_max\] = \[0.2, 0.8\]"):
        load_checkpoint(bad, N, needs_mask=True, k_bounds=(0.2, 0.8))


@pytest.mark.parametrize("index,k,match", [
    (pa.array([0.0, 1.0, 2.0, 3.0]), pa.array([0.5] * 4, pa.float32()), "integer index"),
    (pa.array(["0", "1", "2", "3"]), pa.array([0.5] * 4, pa.float32()), "integer index"),
    (pa.array([0, 1, 2, 3]), pa.array(["0.5"] * 4), "a float k"),
    (pa.array([0, 1, 2, None]), pa.array([0.5] * 4, pa.float32()), "null"),
])
def test_mask_state_columns_of_the_wrong_type_are_refused(tmp_path, index, k, match):
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"index": index, "k": k}), path)
    with pytest.raises(UserError, match=match):
        read_mask_parquet(path, 4)


# -- writes that survive kills -------------------------------------------------------------
class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def _write_with_kill(folder: RunFolder, epoch: int, kill_at: int | None, monkeypatch,
                     steps: dict | None = None) -> bool:
    """write_checkpoint of `epoch`, killed before its `kill_at`-th file-system step (the steps
    of save_checkpoint count too); True if it ran to the end. `steps["n"]`: steps taken."""
    steps = {"n": 0} if steps is None else steps

    def step():
        steps["n"] += 1
        if kill_at is not None and steps["n"] == kill_at:
            raise Killed

    def wrap(fn):
        def wrapped(*args, **kwargs):
            step()
            return fn(*args, **kwargs)
        return wrapped

    with monkeypatch.context() as m:
        m.setattr(ckpt, "fsync", wrap(ckpt.fsync))
        m.setattr(ckpt.torch, "save", wrap(torch.save))
        m.setattr(ckpt, "_write_hashed", wrap(ckpt._write_hashed))  # each file written
        import smoot_dist.runs.folder as rf
        m.setattr(rf.shutil, "rmtree", wrap(rf.shutil.rmtree))
        m.setattr(rf, "fsync", wrap(rf.fsync))
        m.setattr(rf.Path, "rename", wrap(rf.Path.rename))
        try:
            folder.write_checkpoint(epoch, lambda d: _save(d, epoch))
            return True
        except Killed:
            return False


def _newest_on_disk(folder: RunFolder) -> int:
    return newest_intact(folder.checkpoints(), N, needs_mask=True).epochs


def test_two_kills_in_a_row_never_lose_the_newest_completed_epoch(tmp_path, monkeypatch):
    counted = {"n": 0}
    probe = RunFolder(tmp_path / "probe")
    probe.path.mkdir()
    for epoch in (1, 2, 3):
        counted["n"] = 0
        assert _write_with_kill(probe, epoch, None, monkeypatch, counted)
    whole = counted["n"]  # rmtree, torch.save, file writes, fsync, rename, fsync, prune's rmtree
    assert whole >= 8
    # A kill before each step of a write, then before each step of the next: every pair.
    for first in range(1, whole + 1):
        for second in range(1, whole + 1):
            folder = RunFolder(tmp_path / f"run-{first}-{second}")
            folder.path.mkdir()
            for epoch in (1, 2):
                assert _write_with_kill(folder, epoch, None, monkeypatch)
            # Epoch 3 is written and killed, the run resumes, writes epoch 3 again, killed again.
            # A kill after the new checkpoint's rename leaves it published: either epoch counts.
            done3 = _write_with_kill(folder, 3, first, monkeypatch)
            assert _newest_on_disk(folder) in ((3,) if done3 else (2, 3)), (first, second)
            resumed = _newest_on_disk(folder)
            done = _write_with_kill(folder, resumed + 1, second, monkeypatch)
            newest = _newest_on_disk(folder)
            assert newest in ((resumed + 1,) if done else (resumed, resumed + 1)), (first, second)
            assert _write_with_kill(folder, _newest_on_disk(folder) + 1, None, monkeypatch)
            # Two in-process checkpoints are kept; what interrupted writes left is gone.
            names = sorted(p.name for p in folder.path.iterdir())
            assert len(names) == 2 and all(n.startswith("checkpoint_epoch_") for n in names), names


# -- the run-folder lock -----------------------------------------------------------------
def _spec(tmp_path, name="locked") -> RunSpec:
    return RunSpec(name, RunFolder(tmp_path / name), str(tmp_path))


def test_a_held_run_folder_is_refused_with_who_holds_it(tmp_path):
    with lock_run(_spec(tmp_path)):
        with pytest.raises(UserError, match=rf"run 'locked' is in use by another job \(pid "
                                            rf"{os.getpid()} on .*\); wait for it to end"):
            with lock_run(_spec(tmp_path)):
                pass
    with lock_run(_spec(tmp_path)):  # released on exit
        pass


def test_a_lock_left_by_a_dead_job_is_taken_over(tmp_path):
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]);"
            "from smoot_dist.runs.folder import RunFolder, RunSpec, lock_run;"
            "from pathlib import Path;"
            "spec = RunSpec('locked', RunFolder(Path(sys.argv[2]) / 'locked'), sys.argv[2]);"
            "cm = lock_run(spec); cm.__enter__(); print('held', flush=True); time.sleep(60)")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    holder = subprocess.Popen([sys.executable, "-c", code, repo, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=f"pid {holder.pid}"):
        with lock_run(_spec(tmp_path)):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    deadline = time.time() + 10
    with lock_run(_spec(tmp_path)):  # the dead job's lock is no obstacle
        assert time.time() < deadline
