"""--resume [RUN] takes the run's recorded config; config.yaml keeps how the run ran."""

import os

import yaml

from smoot_dist.cli.flags import parse
from smoot_dist.cli.train import FLAGS
from smoot_dist.config import build_config
from smoot_dist.runs.folder import CONFIG_FILE, RUN_FILE, RunFolder, recorded_config


def _recorded_run(root, name, mtime, **layer):
    cfg = build_config(overrides=layer)
    folder = RunFolder(root / name)
    folder.path.mkdir(parents=True)
    folder.write_record({"name": name, "config": recorded_config(cfg)}, cfg)
    os.utime(folder.path / RUN_FILE, (mtime, mtime))
    return folder


def test_resume_alone_continues_the_latest_run_with_its_own_config(tmp_path):
    _recorded_run(tmp_path, "older", 1_000, data={"dataset": "fashion_mnist"})
    _recorded_run(tmp_path, "latest", 2_000, data={"dataset": "mnist", "train_subset": 300},
                  method={"name": "sgt", "k0": 0.3}, run={"workers": 0})
    cfg = parse(FLAGS, ["--resume", "--storage-path", str(tmp_path), "--epochs", "7"])
    assert (cfg.run.run_name, cfg.run.resume) == ("latest", True)
    assert (cfg.data.dataset, cfg.data.train_subset, cfg.method.name, cfg.method.k0) == (
        "mnist", 300, "sgt", 0.3)
    assert cfg.run.workers == 0  # as it ran, not the default 2 workers
    assert cfg.train.epochs == 7  # the flag given changes it
    named = parse(FLAGS, ["--resume", "older", "--storage-path", str(tmp_path)])
    assert (named.run.run_name, named.data.dataset, named.run.workers) == (
        "older", "fashion_mnist", 2)


def test_a_worker_count_given_on_resume_replaces_a_recorded_elastic_range(tmp_path):
    _recorded_run(tmp_path, "elastic", 1_000, run={"workers": 1, "max_workers": 2})
    kept = parse(FLAGS, ["--resume", "--storage-path", str(tmp_path)])
    assert (kept.run.workers, kept.run.max_workers) == (1, 2)
    fixed = parse(FLAGS, ["--resume", "--storage-path", str(tmp_path), "--workers", "1"])
    assert (fixed.run.workers, fixed.run.max_workers) == (1, None)
    wider = parse(FLAGS, ["--resume", "--storage-path", str(tmp_path), "--workers", "2:4"])
    assert (wider.run.workers, wider.run.max_workers) == (2, 4)


def test_config_yaml_runs_the_run_as_it_ran_without_this_machines_paths(tmp_path):
    folder = _recorded_run(tmp_path, "r", 1_000, run={
        "workers": 3, "max_workers": 5, "storage_path": str(tmp_path), "run_name": "r",
        "summary_json": str(tmp_path / "s.json"), "ray_address": "10.0.0.1:6379"})
    run = yaml.safe_load((folder.path / CONFIG_FILE).read_text())["run"]
    assert run == {"workers": 3, "max_workers": 5, "resize_check_s": 60.0, "use_gpu": False,
                   "max_failures": 2}
    again = build_config(str(folder.path / CONFIG_FILE))
    assert (again.run.workers, again.run.max_workers, again.run.storage_path,
            again.run.run_name) == (3, 5, None, None)
    assert folder.read_record()["config"]["run"] == run
