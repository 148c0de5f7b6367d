"""A tuned reproduction keeps each finished sweep's outcome beside its results page, so that the
page's folder carries the sweeps to another machine: the same --id there reuses them (no trial
runs again), another --id does not. The sweep itself is replaced by one that writes the files a
real one writes (run.run_sweep; the real sweep runs in the integration tests)."""

import json
from pathlib import Path

import pytest
import yaml

from smoot_dist.config import build_config
from smoot_dist.foundations.errors import UserError
from smoot_dist.sweep import search as sweep_run
from smoot_dist.sweep.search import OUTCOME_FILES
from smoot_dist.sweep.tuned import tune_space

PREFIX = "tuned-x-fashion_mnist-sweep"


def _fake_sweep(calls):
    def run_sweep(cfg, space, sweep_id):
        out = Path(cfg.sweep.output_dir)
        out.mkdir(parents=True)
        calls.append(sweep_id)
        best = {"method": {"name": space.method, "k0": 0.35, "lambda": 2.0, "fill": "mean"}}
        summary = {"sweep": sweep_id, "method": space.method, "trials": [], "best": {},
                   "output_dir": str(out), "wall_s": 12.0}
        for name in OUTCOME_FILES:
            text = {"sweep.json": json.dumps(summary),
                    "best_config.yaml": yaml.safe_dump(best)}.get(name, name)
            (out / name).write_text(text)
        return summary
    return run_sweep


@pytest.fixture
def cfg():
    return build_config(None, {"data": {"dataset": "fashion_mnist"}, "method": {"name": "sgt"}})


def test_a_finished_sweep_is_kept_beside_the_page_and_reused_elsewhere(cfg, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_run, "run_sweep", _fake_sweep(calls))
    kept = tmp_path / "docs" / "results" / "fashion_mnist_sweeps"
    first = tune_space(cfg, "tuned_sgt", tmp_path / "home1", PREFIX, kept)
    assert calls == [f"{PREFIX}-tuned_sgt"] and not first.reused
    assert sorted(p.name for p in (kept / "tuned_sgt").iterdir()) == sorted(OUTCOME_FILES)

    # another machine: an empty home, the page's folder as committed
    second = tune_space(cfg, "tuned_sgt", tmp_path / "home2", PREFIX, kept)
    assert calls == [f"{PREFIX}-tuned_sgt"]  # no second sweep
    assert second.reused and second.settings == first.settings == {
        "name": "sgt", "k0": 0.35, "lambda": 2.0, "fill": "mean"}
    # its files are where this machine's reproduction reads them (the page's objective plot)
    assert second.sweep["output_dir"] == str(tmp_path / "home2" / "sweeps" / "tuned_sgt")
    assert (tmp_path / "home2" / "sweeps" / "tuned_sgt" / "objective_vs_params.png").is_file()


def test_another_reproduction_does_not_reuse_a_kept_sweep(cfg, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_run, "run_sweep", _fake_sweep(calls))
    kept = tmp_path / "kept"
    tune_space(cfg, "tuned_sgt", tmp_path / "home1", PREFIX, kept)
    tune_space(cfg, "tuned_sgt", tmp_path / "home2", "tuned-y-fashion_mnist-sweep", kept)
    assert calls == [f"{PREFIX}-tuned_sgt", "tuned-y-fashion_mnist-sweep-tuned_sgt"]
    # the newer sweep's outcome is not written over the kept one of another reproduction
    kept_summary = json.loads((kept / "tuned_sgt" / "sweep.json").read_text())
    assert kept_summary["sweep"] == f"{PREFIX}-tuned_sgt"


def _failing_sweep(calls, fail: bool):
    """A sweep whose second trial failed (workers that never started), or none did."""
    base = _fake_sweep(calls)

    def run_sweep(cfg, space, sweep_id):
        summary = base(cfg, space, sweep_id)
        summary["trials"] = [{"trial": "a_00000", "error": ""},
                             {"trial": "a_00001", "error": "RayTaskError(UserError)" if fail else ""}]
        (Path(cfg.sweep.output_dir) / "sweep.json").write_text(json.dumps(summary))
        return summary
    return run_sweep


def test_a_sweep_with_failed_trials_is_not_reused_and_is_searched_again(cfg, tmp_path, monkeypatch):
    calls = []
    kept = tmp_path / "kept"
    home = tmp_path / "home"
    monkeypatch.setattr(sweep_run, "run_sweep", _failing_sweep(calls, fail=True))
    with pytest.raises(UserError, match=r"sweep tuned_sgt: 1 of its 2 trials failed \(a_00001: "
                                        r"RayTaskError\(UserError\)\).*equal budgets"):
        tune_space(cfg, "tuned_sgt", home, PREFIX, kept)
    assert not (kept / "tuned_sgt").exists()  # a failed sweep is not kept beside the page

    monkeypatch.setattr(sweep_run, "run_sweep", _failing_sweep(calls, fail=False))
    again = tune_space(cfg, "tuned_sgt", home, PREFIX, kept)
    assert calls == [f"{PREFIX}-tuned_sgt"] * 2 and not again.reused
    # the failed sweep's files are kept aside as evidence, the new one in its place and kept
    aside = json.loads((home / "sweeps" / "tuned_sgt-failed-1" / "sweep.json").read_text())
    assert aside["trials"][1]["error"] == "RayTaskError(UserError)"
    assert json.loads((kept / "tuned_sgt" / "sweep.json").read_text())["trials"][1]["error"] == ""


def test_a_kept_sweep_with_failed_trials_is_searched_again_and_replaced(cfg, tmp_path, monkeypatch):
    calls = []
    kept = tmp_path / "kept" / "tuned_sgt"
    kept.mkdir(parents=True)
    (kept / "sweep.json").write_text(json.dumps({"sweep": f"{PREFIX}-tuned_sgt", "trials": [
        {"trial": "a_00000", "error": "RayTaskError(UserError)"}]}))
    monkeypatch.setattr(sweep_run, "run_sweep", _failing_sweep(calls, fail=False))
    tuned = tune_space(cfg, "tuned_sgt", tmp_path / "home", PREFIX, kept.parent)
    assert calls == [f"{PREFIX}-tuned_sgt"] and not tuned.reused
    assert json.loads((kept / "sweep.json").read_text())["trials"][0]["error"] == ""
