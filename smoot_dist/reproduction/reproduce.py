"""The paper's comparison over seeds, as jobs/reproduce.py runs it (its flags: cli/reproduce.py):
for each dataset, the sweeps of a tuned protocol first, then every method's runs for every seed
(each a normal training run, reused by --id), their evaluations, the comparison table and, with
--report, the results page. Above sweep/ (a tuned protocol sweeps first) and workflows/ (each
run is a training job)."""

from __future__ import annotations

import time
from pathlib import Path

from ..foundations.catalog import dataset_label, decoy_source
from ..foundations.choices import choose_names, split_names
from ..config import METHODS, JobConfig, merge, validate
from ..foundations.errors import ConfigError
from ..foundations.home import output_dir
from ..foundations.progress import progress_mode
from ..runs.folder import RunFolder, locate_run
from ..sweep.search_space import load_search_space
from ..sweep.tuned import tune_space


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
    from ..sweep.search import with_validation  # torch, via the data

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
    from ..workflows.evaluate import evaluate_run
    from ..reports.comparison_report import compare_and_report
    from ..reports.results_tables import TUNED_SUFFIX
    from ..evaluation.trained_run import load_trained
    from ..workflows.train import run_training

    r, dataset = cfg.reproduce, cfg.data.dataset
    attributions = parse_methods(r.attributions, "--attributions")
    methods = _methods(cfg)
    if "grad" not in attributions:
        attributions.insert(0, "grad")
    eval_images = r.eval_images or cfg.data.test_subset
    metrics = parse_metrics(r.metrics, decoy=decoy_source(dataset) is not None)
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
            # on remote storage, the run is fetched into this machine's cache: its folder is
            # this one, whichever machine's folder its summary names
            spec = locate_run(run_cfg)
            folder = spec.folder
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
                run = load_trained(str(folder.path))
                run.remote = spec.remote  # its evaluation's record goes where the run lives
                evaluated = evaluate_run(run, attributions, metrics=metrics,
                                         test_subset=eval_images, device=cfg.train.device,
                                         tracking=cfg.tracking.enabled,
                                         progress=progress_mode(cfg.run.progress,
                                                                 cfg.run.progress_lines))["record"].id
            evaluation = evaluation or evaluated
            folders.append(folder.path)
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
        from ..reports.shortcut_page import is_decoy, write_k_split
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
        if is_decoy(record):
            record["figures"].update(write_k_split(record, folders, page.with_suffix("")))
        record["wall_s"] = time.perf_counter() - start  # the runs, the page's figures included
        write_report(page, record)
        print(f"results page: {page} (figures and records in {page.with_suffix('')}/)")


def reproduce_datasets(cfgs: list[JobConfig], protocol: str, command: str) -> int:
    """Reproduce each dataset's comparison (`cfgs`: one config per dataset, of the protocol named
    `protocol`; `command`: the command line, for the page), after checking every dataset's
    settings and sweep spaces before the first run starts."""
    for cfg in cfgs:
        _methods(cfg)  # every dataset's settings checked before the first run starts
        if cfg.reproduce.report and Path(cfg.reproduce.report).suffix != ".md":
            raise ConfigError(f"--report {cfg.reproduce.report}: give a Markdown page (.md)")
    rid = cfgs[0].reproduce.id or f"{protocol}-{time.strftime('%Y%m%d-%H%M%S')}"
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
