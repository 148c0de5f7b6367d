"""Reproduce the paper's comparison: train traditional, SGT, SMOOT and the random-mask ablation
(--methods) with each dataset's Table 1 preset for several seeds, evaluate each (accuracy-drop
AUC and SRG, Grad, and the battery's --metrics), print the table; with --report, write the results page (tables beside the
paper's, paired intervals for its claims, figures).

  python jobs/reproduce.py --protocol cpu --report docs/results.md    # both datasets, ~1 h each here
  python jobs/reproduce.py --protocol cpu --dataset mnist --report docs/results.md
  python jobs/reproduce.py --dataset fashion_mnist --epochs 1 --train-subset 4000 --eval-images 2000
  python jobs/reproduce.py --protocol paper --report docs/results.md  # 100 epochs, 60k, one GPU
  python jobs/reproduce.py --protocol tuned --report docs/results.md  # sweep SGT and SMOOT first

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
import time
from pathlib import Path

from ..choices import choose_names, split_names
from ..cli import JobFlags, build_parser, overrides_from_args, resolve_progress, run_cli
from ..config import METHODS, JobConfig, build_config, merge, validate
from ..config.presets import PROTOCOLS
from ..catalog import dataset_label, parse_dataset
from ..errors import ConfigError
from ..home import output_dir
from ..progress import progress_mode
from ..run_folder import RunFolder, locate_run
from ..sweep.search_space import load_search_space
from ..sweep.tuned import tune_space

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


def _methods(cfg: JobConfig) -> list[str]:
    return choose_names(cfg.reproduce.methods, METHODS, "training method", "--methods")


def _arithmetic(folders: list[Path]) -> str:
    """The precision the runs trained in, as their configs recorded it (`auto` resolved)."""
    names = sorted({RunFolder(f).read_config()["train"]["precision"] for f in folders})
    return " and ".join("bf16 autocast" if n == "bf16" else n for n in names) + " training"


def _settings(cfg: JobConfig, folders: list[Path]) -> str:
    """The protocol in words, for the results page."""
    n = f"{cfg.data.train_subset:,}" if cfg.data.train_subset else "all"
    where = (f"{cfg.run.workers} Ray worker(s)" + (" with GPUs" if cfg.run.use_gpu else "")
             if cfg.run.workers else f"one process (device: {cfg.train.device})")
    held = (f" ({cfg.data.val_images:,} validation images held out of the training data first)"
            if cfg.data.val_images else "")
    return (f"{n} training images (class-balanced){held}, {cfg.train.epochs} epochs, batch "
            f"{cfg.train.batch_size}, the dataset's Table 1 preset, {_arithmetic(folders)}, "
            f"{where}")


def _tune(cfg: JobConfig, rid: str, out: Path) -> list:
    """Sweep each of --tune's spaces (or reuse this --id's finished sweeps, here or kept beside
    the results page): their best settings, each with the config they were chosen under (a
    validation split held out)."""
    from ..sweep.run import with_validation  # torch, via the data

    cfg, _ = with_validation(cfg)  # one split for the sweeps and the confirmation alike
    label = dataset_label(cfg.data.dataset)
    kept = (Path(cfg.reproduce.report).with_suffix("") / f"{label}_sweeps" / rid
            if cfg.reproduce.report else None)
    return [tune_space(cfg, name, out, f"{rid}-{label}-sweep", kept)
            for name in split_names(cfg.reproduce.tune)]


def reproduce_dataset(cfg: JobConfig, rid: str, protocol: str, command: str, commit: str,
                      several: bool = False) -> None:
    from ..attribution import parse_methods
    from ..evaluation.protocol import parse_metrics  # the metric registry: torch
    from ..evaluation.record import read_records
    from ..job.evaluate_job import evaluate_run
    from ..reports.comparison_report import compare_and_report
    from ..reports.results_tables import TUNED_SUFFIX
    from ..evaluation.trained_run import load_trained
    from ..job.train_job import run_training

    r, dataset = cfg.reproduce, cfg.data.dataset
    attributions = parse_methods(r.attributions, "--attributions")
    methods = _methods(cfg)
    if "grad" not in attributions:
        attributions.insert(0, "grad")
    eval_images = r.eval_images or cfg.data.test_subset
    metrics = parse_metrics(r.metrics)
    if "morf" not in metrics:  # the table's AUC
        metrics = ("morf", *metrics)

    def evaluation_of(folder: RunFolder) -> str | None:
        """The id of this reproduction's evaluation of the run, where it has one."""
        return next((e.id for e in read_records(folder.evaluation_dir)
                     if not e.protocol.closing and e.protocol.metrics == metrics
                     and list(e.protocol.methods) == attributions and e.protocol.seed == 0
                     and e.protocol.fill == "background"
                     and (eval_images is None or e.protocol.images == eval_images)), None)
    start = time.perf_counter()
    if r.output_dir:  # several datasets: a folder each inside it
        out = Path(r.output_dir) / (dataset_label(dataset) if several else "")
    else:
        out = output_dir("reproductions", f"{dataset_label(dataset)}-{rid}")
    tuned = _tune(cfg, rid, out) if r.tune else []
    if tuned:
        cfg = tuned[0].base  # the sweeps' validation split: every run below holds it out too
    # (method, its tuned settings or None for the dataset's preset): untuned first
    plan = [(m, None) for m in methods] + [(t.method, t) for t in tuned]
    folders, labels, done, reused, evaluation = [], {}, 0, 0, None
    for seed in range(r.seeds):
        for method, tuning in plan:
            variant = f"{method}-tuned" if tuning else method
            run_cfg = merge(cfg, {"method": {**(tuning.settings if tuning else {}), "name": method},
                                  "train": {"seed": seed},
                                  "run": {"run_name": f"repro-{rid}-{dataset_label(dataset)}-{variant}-s{seed}"}},
                            "the reproduction")
            validate(run_cfg)
            folder = locate_run(run_cfg).folder
            summary = folder.read_summary()
            finished = summary is not None and len(summary.get("epochs", ())) >= cfg.train.epochs
            evaluated = evaluation_of(folder)
            reuse = finished and evaluated is not None
            done, reused = done + 1, reused + reuse
            print(f"\n== {dataset} {done}/{r.seeds * len(plan)}: {variant}, seed {seed}"
                  + (" (finished before: reused)" if reuse else ""), flush=True)
            if not finished:
                summary = run_training(run_cfg, tags={"reproduction": rid})
            if not reuse:
                run = load_trained(summary["run_dir"])
                evaluated = evaluate_run(run, attributions, metrics=metrics,
                                         test_subset=eval_images, device=cfg.train.device,
                                         tracking=cfg.tracking.enabled,
                                         progress=progress_mode(cfg.run.progress,
                                                                 cfg.run.progress_lines))["record"].id
            evaluation = evaluation or evaluated
            folders.append(RunFolder(summary["run_dir"]).path)
            if tuning:
                labels[folders[-1].name] = f"{method}{TUNED_SUFFIX}"
    wall = time.perf_counter() - start
    print(f"\n== {dataset}: {r.seeds} seed(s) x {len(plan)} settings, {cfg.train.epochs} "
          f"epoch(s), {wall:.0f} s\n")
    compare_and_report(out, folders=folders, auc_method="grad", evaluation=evaluation)
    print(f"files: {out}")
    if r.report:
        from ..reports.results_page import (dataset_record, machine_description, write_figures,
                                               write_report)
        from ..reports.tuned_page import copy_sweep_plots, tuning_record

        page = Path(r.report)
        record = dataset_record(dataset, folders, evaluation, labels=labels, protocol=protocol,
                                command=command, machine=machine_description(cfg.train.device),
                                settings=_settings(cfg, folders), reproduction=rid, commit=commit,
                                reused=reused)
        if tuned:
            record.update(tuning_record(tuned, cfg))
        record["figures"] = write_figures(record, folders, page.with_suffix(""))
        record["figures"].update(copy_sweep_plots(record, page.with_suffix("")))
        record["wall_s"] = time.perf_counter() - start  # the runs, the page's figures included
        write_report(page, record)
        print(f"results page: {page} (figures and records in {page.with_suffix('')}/)")


def reproduce(argv: list[str] | None = None) -> int:
    cfgs, protocol = configs_from_args(argv)
    for cfg in cfgs:
        _methods(cfg)  # every dataset's settings checked before the first run starts
        if cfg.reproduce.report and Path(cfg.reproduce.report).suffix != ".md":
            raise ConfigError(f"--report {cfg.reproduce.report}: give a Markdown page (.md)")
    rid = cfgs[0].reproduce.id or f"{protocol}-{time.strftime('%Y%m%d-%H%M%S')}"
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "jobs/reproduce.py", *argv])
    print(f"reproduction {rid}: {', '.join(c.data.dataset for c in cfgs)}; after an interruption, "
          f"the same command with --id {rid} continues it", flush=True)
    from ..reports.results_page import git_commit

    for cfg in cfgs:  # a bad space fails before the first run, not after hours of them
        tuned = [load_search_space(name, cfg.method.name).method
                 for name in split_names(cfg.reproduce.tune)]
        if len(set(tuned)) < len(tuned):
            raise ConfigError(f"--tune {cfg.reproduce.tune}: two spaces tune the same method; "
                              f"give one space per method")

    commit = git_commit()  # the code the runs start with, whatever the checkout does meanwhile
    for cfg in cfgs:
        reproduce_dataset(cfg, rid, protocol, command, commit, several=len(cfgs) > 1)
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: reproduce(argv))
