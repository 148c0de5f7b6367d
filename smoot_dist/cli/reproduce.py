"""Reproduce the paper's comparison: train traditional, SGT, SMOOT and the random-mask ablation
(--methods) with each dataset's Table 1 preset for several seeds, evaluate each (accuracy-drop
AUC and SRG, Grad, and the battery's --metrics), print the table; with --report, write the results page (tables beside the
paper's, paired intervals for its claims, figures).

  python jobs/reproduce.py --protocol cpu --report docs/results.md    # both datasets, ~1 h each here
  python jobs/reproduce.py --protocol cpu --dataset mnist --report docs/results.md
  python jobs/reproduce.py --dataset fashion_mnist --epochs 1 --train-subset 4000 --eval-images 2000
  python jobs/reproduce.py --protocol paper --report docs/results.md  # 100 epochs, 60k, one GPU
  python jobs/reproduce.py --protocol tuned --report docs/results.md  # sweep SGT and SMOOT first
  python jobs/reproduce.py --protocol decoy --report docs/results.md  # the Shortcuts part, with RRR

A protocol with `tune:` (--tune SPACES; the tuned protocol: tuned_sgt,tuned_smoot) first sweeps
each space with Ray Tune on a validation split held out of the training data (the sweep section:
trials, objective; one MLflow parent run each), then trains each sweep's best setting for every
seed beside the untuned --methods, on the same images; the page gets a "Tuned against tuned"
section. With --id, finished sweeps are reused (their sweep.json), an unfinished one searched again.

A protocol (configs/reproduce/<name>.yaml) is a config file with the scale (train subset, epochs),
the seeds, methods and datasets; flags override it. Every run is a normal training run (its own
folder and MLflow run, tagged reproduction=<id>), named repro-<id>-<dataset>-<method>-s<seed>:
the same command with `--id <id>` after an interruption reuses the finished runs and continues
the others from their checkpoints. The table, curves and saliency figure also go to --output-dir.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

from ..foundations.choices import split_names
from .flags import JobFlags, build_parser, overrides_from_args, resolve_progress, run_cli
from ..config import JobConfig, build_config
from ..config.presets import PROTOCOLS
from ..foundations.catalog import parse_dataset
from ..foundations.errors import ConfigError
from ..reproduction.reproduce import reproduce_datasets

FLAGS = JobFlags("reproduce.py", __doc__,
                 (("data", "dataset", "train_subset", "val_images", "test_subset"),
                  ("train", "epochs", "device", "precision"),
                  ("run", "workers", "use_gpu", "storage_path", "progress"),
                  ("tracking", "uri", "enabled"),
                  ("sweep", "num_samples", "max_concurrent", "objective", "objective_images",
                   "sweep_seed"), "reproduce"),
                 defaults={"train": {"epochs": 100}})  # the paper's schedule


def protocol_file(name: str) -> Path:
    """A protocol's YAML: configs/reproduce/<name>.yaml, or a file path."""
    named = PROTOCOLS / f"{name}.yaml"
    if named.is_file():
        return named
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    known = ", ".join(sorted(p.stem for p in PROTOCOLS.glob("*.yaml")))
    raise ConfigError(f"unknown protocol {name!r}: choose one of {known} (configs/reproduce/), or "
                      f"pass the path of a YAML file like them")


def configs_from_args(argv: list[str] | None) -> tuple[list[JobConfig], str]:
    """One config per dataset to reproduce (protocol < flags), and the protocol's name."""
    args = build_parser(FLAGS).parse_args(argv)
    overrides = overrides_from_args(FLAGS, args)
    protocol = (overrides.get("reproduce") or {}).get("protocol")
    config_file = str(protocol_file(protocol)) if protocol else None
    base = build_config(config_file, overrides, FLAGS.defaults)
    if "dataset" in (overrides.get("data") or {}):
        datasets = [base.data.dataset]  # --dataset picks one (of the protocol's, or any)
    else:
        datasets = split_names(base.reproduce.datasets) or [base.data.dataset]
    cfgs = []
    for dataset in datasets:
        parse_dataset(dataset)  # an unknown name: one line
        layer = {**overrides, "data": {**(overrides.get("data") or {}), "dataset": dataset}}
        cfg = build_config(config_file, layer, FLAGS.defaults)
        cfgs.append(dataclasses.replace(cfg, run=resolve_progress(cfg.run)))
    return cfgs, Path(config_file).stem if config_file else "custom"


def reproduce(argv: list[str] | None = None) -> int:
    cfgs, protocol = configs_from_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    return reproduce_datasets(cfgs, protocol, shlex.join(["python", "jobs/reproduce.py", *argv]))


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: reproduce(argv))
