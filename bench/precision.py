#!/usr/bin/env python
"""Is bf16 as good as fp32 here? The decision behind `--precision auto`, from two reproductions
of the same protocol that differ only in --precision (same seeds, datasets and methods):

  python jobs/reproduce.py --protocol cpu --precision fp32 --id p32 --seeds 6 --methods sgt,smoot
  python jobs/reproduce.py --protocol cpu --precision bf16 --id p16 --seeds 6 --methods sgt,smoot
  python bench/precision.py --fp32 p32 --bf16 p16 --report docs/precision.md

Training: each bf16 run minus its fp32 twin (same dataset, method and seed: the same images,
initial weights and batch order), for the test accuracy (points) and the Grad MoRF AUC of the
protocol's evaluation; a 95% Student-t interval per dataset and method, and over all pairs.
bf16 training is equivalent when the intervals over all pairs lie within +-0.5 accuracy points
and +-1.0 AUC, and no dataset's or method's own interval lies wholly beyond a bound.

Evaluation (--evaluation): the fp32-trained models evaluated twice, in fp32 and under bf16
autocast (the same images, attributions and fill), paired by model, with the same bounds; and
the epoch times of the two precisions side by side.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import torch

from common import describe

from smoot_dist.reports.comparison import record_from_folder, select_protocol
from smoot_dist.reports.paired import paired_difference
from smoot_dist.foundations.files import write_json
from smoot_dist.foundations.home import runs_root

ACCURACY_BOUND = 0.5  # points
AUC_BOUND = 1.0  # AUC units (the curves are in %, 0-90% removed)
RUN = re.compile(r"(?P<dataset>.+)-(?P<method>[a-z_]+)-s(?P<seed>\d+)")  # after repro-<id>-


def runs_of(root: Path, rid: str, methods: set[str]) -> dict[tuple[str, str, int], Path]:
    """(dataset, method, seed) -> run folder of reproduction `rid`, finished runs only."""
    out = {}
    prefix = f"repro-{rid}-"
    for path in sorted(root.glob(f"{prefix}*")):
        m = RUN.fullmatch(path.name[len(prefix):])
        if m and m["method"] in methods and (path / "summary.json").is_file():
            out[(m["dataset"], m["method"], int(m["seed"]))] = path
    return out


def interval(a: dict[int, float], b: dict[int, float], bound: float) -> dict:
    n, mean, low, high = paired_difference(a, b)
    return {"n": n, "mean": mean, "low": low, "high": high,
            "within": n >= 2 and -bound <= low and high <= bound}


def shown(d: dict, digits: int = 2) -> str:
    if d["n"] < 2:
        return f"{d['mean']:+.{digits}f} (one pair)"
    return f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"


def training_comparison(fp32: dict, bf16: dict) -> tuple[list[dict], object]:
    """One row per (dataset, method) and one over all pairs, bf16 minus fp32; and the
    evaluation protocol the AUCs come from."""
    keys = sorted(fp32.keys() & bf16.keys())
    records = {(k, p): record_from_folder(runs[k]) for k in keys
               for p, runs in (("fp32", fp32), ("bf16", bf16))}
    # the epochs' times, from the summary record_from_folder does not keep
    epochs = {(k, p): json.loads((runs[k] / "summary.json").read_text())["epochs"]
              for k in keys for p, runs in (("fp32", fp32), ("bf16", bf16))}
    protocol = select_protocol(list(records.values()))
    groups: dict[tuple[str, str], list] = {}
    for k in keys:
        groups.setdefault(k[:2], []).append(k)
    rows = []
    for label, members in [*sorted(groups.items()), (("all", "all"), keys)]:
        # pairs are told apart by their index: seeds repeat across datasets and methods
        acc = {p: {i: 100 * records[(k, p)].accuracy for i, k in enumerate(members)}
               for p in ("fp32", "bf16")}
        auc = {p: {i: records[(k, p)].auc.get("grad") for i, k in enumerate(members)
                   if records[(k, p)].auc.get("grad") is not None} for p in ("fp32", "bf16")}
        # the median epoch: robust to an epoch stretched by a paused or busy machine
        epoch = {p: statistics.median(e["train_time_s"] for k in members
                                      for e in epochs[(k, p)]) for p in ("fp32", "bf16")}
        rows.append({"dataset": label[0], "method": label[1], "pairs": len(members),
                     "accuracy fp32": statistics.fmean(acc["fp32"].values()),
                     "accuracy": interval(acc["bf16"], acc["fp32"], ACCURACY_BOUND),
                     "auc fp32": statistics.fmean(auc["fp32"].values()) if auc["fp32"] else None,
                     "auc": interval(auc["bf16"], auc["fp32"], AUC_BOUND),
                     "train s/epoch fp32": epoch["fp32"], "train s/epoch bf16": epoch["bf16"]})
    return rows, protocol


def evaluate_both(path: Path, images: int) -> dict[str, float]:
    """One fp32-trained model evaluated in fp32 and under bf16 autocast: accuracy on the whole
    test set, Grad MoRF AUC on `images` class-balanced test images (background fill, seed 0)."""
    from dataclasses import replace

    from smoot_dist.data.loading import channel_stats, load_test_split, normalize
    from smoot_dist.metrics.faithfulness.drop import accuracy_drop
    from smoot_dist.evaluation.trained_run import load_trained

    cpu = torch.device("cpu")
    run = load_trained(str(path))
    model = run.model.eval().to(cpu)
    full = load_test_split(replace(run.cfg.data, train_subset=None, test_subset=None))
    subset = load_test_split(replace(run.cfg.data, train_subset=None, test_subset=images))
    mean, std = channel_stats(full.spec, cpu)
    out = {}
    for precision in ("fp32", "bf16"):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            with torch.no_grad():
                right = sum(int((model(normalize(full.test.images[s:s + 1000], mean, std))
                                 .argmax(1) == full.test.labels[s:s + 1000]).sum())
                            for s in range(0, len(full.test), 1000))
            curves = accuracy_drop(model, subset.test, subset.spec, ["grad"], device=cpu,
                                   fill="background", seed=0)
        out[f"accuracy {precision}"] = 100 * right / len(full.test)
        out[f"auc {precision}"] = curves.auc["grad"]
    return out


def evaluation_comparison(fp32: dict, images: int, cache: Path | None = None,
                          cached_only: bool = False) -> list[dict]:
    """`evaluate_both` for each fp32-trained model, paired by model; `cache` (JSON) keeps each
    model's numbers, so that a study that grows over several sittings evaluates a model once
    (`cached_only`: report the models the cache holds, evaluate none)."""
    done = json.loads(cache.read_text()) if cache and cache.is_file() else {}
    rows: dict[str, dict[str, dict[int, float]]] = {}
    for i, (key, path) in enumerate(sorted(fp32.items())):
        entry = f"{path.resolve()}|{images}"
        if entry not in done and cached_only:
            continue
        if entry not in done:
            done[entry] = evaluate_both(path, images)
            if cache:
                write_json(cache, done)  # atomically: an interrupted sitting keeps the last
        group = rows.setdefault(key[0], {})
        for name, value in done[entry].items():
            group.setdefault(name, {})[i] = value
        print(f"  evaluated {path.name}: AUC fp32 {done[entry]['auc fp32']:.2f}, bf16 "
              f"{done[entry]['auc bf16']:.2f}", flush=True)
    if not rows:
        return []
    out = []
    every = {k: {} for k in ("accuracy fp32", "accuracy bf16", "auc fp32", "auc bf16")}
    for dataset, values in [*sorted(rows.items())]:
        for k in every:
            every[k].update(values[k])
    for dataset, values in [*sorted(rows.items()), ("all", every)]:
        out.append({"dataset": dataset, "models": len(values["auc fp32"]),
                    "accuracy": interval(values["accuracy bf16"], values["accuracy fp32"],
                                         ACCURACY_BOUND),
                    "auc": interval(values["auc bf16"], values["auc fp32"], AUC_BOUND)})
    return out


BOUNDS = {"accuracy": ACCURACY_BOUND, "auc": AUC_BOUND}


def verdict(rows: list[dict]) -> tuple[bool, str]:
    """Equivalent when the intervals over all pairs (the last row) lie within the bounds and no
    single group's interval lies wholly beyond a bound (a difference shown in one dataset or
    method that pooling would hide); else what fails. A group's own interval, over its few
    seeds, may be wider than the bounds without showing a difference."""
    *groups, pooled = rows
    failed = [f"all pairs: {m} {shown(pooled[m])}" for m in BOUNDS if not pooled[m]["within"]]
    failed += [f"{r['dataset']}/{r.get('method', 'all')}: {m} {shown(r[m])}"
               for r in groups for m, bound in BOUNDS.items()
               if r[m]["n"] >= 2 and (r[m]["low"] > bound or r[m]["high"] < -bound)]
    return not failed, "; ".join(failed)


def markdown(rows: list[dict], protocol, evaluation: list[dict] | None, command: str,
             device: str) -> str:
    train_ok, train_out = verdict(rows)
    lines = ["# bf16 against fp32: the decision behind `--precision auto`", "",
             f"Generated by `{command}` on {device}; do not edit by hand.", "",
             "Each bf16-trained run minus its fp32 twin (same dataset, method and seed: the same "
             "images, initial weights and batch order), mean over the pairs with a 95% Student-t "
             f"interval. Equivalent: the intervals over all pairs within +-{ACCURACY_BOUND} "
             f"accuracy points and +-{AUC_BOUND} AUC (Grad MoRF, lower is better), and no "
             f"dataset's or method's interval wholly beyond a bound (over its few seeds it may "
             f"be wider than the bounds without showing a difference). Accuracy on the whole test set in "
             f"fp32; AUC from the protocol `{protocol.id if protocol else '-'}`"
             + (f" ({protocol.describe()})" if protocol else "") + ".", "",
             "| dataset | method | pairs | accuracy fp32 (%) | bf16 - fp32 (points) | AUC fp32 | "
             "bf16 - fp32 (AUC) | train s/epoch fp32 (median) | bf16 | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        auc_fp32 = f"{r['auc fp32']:.2f}" if r["auc fp32"] is not None else "-"
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['pairs']} | {r['accuracy fp32']:.2f} | "
            f"{shown(r['accuracy'])} | {auc_fp32} | {shown(r['auc'])} | "
            f"{r['train s/epoch fp32']:.1f} | {r['train s/epoch bf16']:.1f} | "
            f"{r['train s/epoch fp32'] / r['train s/epoch bf16']:.2f}x |")
    lines += ["", "**Training: " + ("equivalent** (the intervals over all pairs within the "
                                    "bounds, no group's beyond them): `auto` "
                                    "(bf16 where the processor computes it natively) is the "
                                    "training default." if train_ok else
                                    f"not shown equivalent** ({train_out}): fp32 stays the "
                                    f"default.")]
    if evaluation is not None:
        eval_ok, eval_out = verdict(evaluation)
        lines += ["", "## Evaluation in bf16", "",
                  "The fp32-trained models above, each evaluated in fp32 and under bf16 "
                  "autocast (the same images, Grad attributions, background fill, seed 0), "
                  "bf16 minus fp32 per model:", "",
                  "| dataset | models | accuracy, bf16 - fp32 (points) | AUC, bf16 - fp32 |",
                  "|---|---|---|---|"]
        lines += [f"| {r['dataset']} | {r['models']} | {shown(r['accuracy'])} | "
                  f"{shown(r['auc'])} |" for r in evaluation]
        lines += ["", "**Evaluation: " + ("equivalent** in accuracy and Grad AUC on these "
                                          "models. The battery's other metrics (MPRT, "
                                          "localisation, sparseness, PGD) are not compared "
                                          "here, so evaluation stays fp32." if eval_ok else
                                          f"not equivalent** ({eval_out}): it stays fp32.")]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fp32", required=True, metavar="ID", help="the fp32 reproduction's --id")
    p.add_argument("--bf16", required=True, metavar="ID", help="the bf16 reproduction's --id")
    p.add_argument("--methods", default="sgt,smoot")
    p.add_argument("--runs-root", type=Path, default=None,
                   help="where the runs are (default: $SMOOT_HOME/runs)")
    p.add_argument("--evaluation", action="store_true",
                   help="also evaluate the fp32-trained models in bf16 (minutes per model here)")
    p.add_argument("--eval-images", type=int, default=2000)
    p.add_argument("--eval-cache", type=Path, metavar="JSON",
                   help="keep each model's --evaluation numbers here and reuse them")
    p.add_argument("--eval-cached-only", action="store_true",
                   help="with --eval-cache: report the models it holds, evaluate none")
    p.add_argument("--report", type=Path, help="write the page here (Markdown)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    root = args.runs_root or runs_root()
    methods = set(args.methods.split(","))
    fp32, bf16 = runs_of(root, args.fp32, methods), runs_of(root, args.bf16, methods)
    if not fp32.keys() & bf16.keys():
        raise SystemExit(f"no finished pair of runs repro-{args.fp32}-* and repro-{args.bf16}-* "
                         f"in {root}")
    rows, protocol = training_comparison(fp32, bf16)
    print("bf16 - fp32, mean [95% interval]:")
    for r in rows:
        print(f"  {r['dataset']:>13} {r['method']:>6} n={r['pairs']:2d}  accuracy "
              f"{shown(r['accuracy'])} points  AUC {shown(r['auc'])}  train s/epoch "
              f"{r['train s/epoch fp32']:.1f} -> {r['train s/epoch bf16']:.1f}")
    ok, outside = verdict(rows)
    print("training: " + ("equivalent" if ok else f"not shown equivalent: {outside}"))
    evaluation = None
    if args.evaluation:
        evaluation = evaluation_comparison({k: v for k, v in fp32.items() if k in bf16},
                                           args.eval_images, args.eval_cache,
                                           args.eval_cached_only) or None
        for r in evaluation or []:
            print(f"  evaluation {r['dataset']:>13} n={r['models']:2d}  accuracy "
                  f"{shown(r['accuracy'])}  AUC {shown(r['auc'])}")
    command = " ".join(["python bench/precision.py", *sys.argv[1:]])
    if args.report:
        args.report.write_text(markdown(rows, protocol, evaluation, command,
                                        describe(torch.device("cpu"))))
        print(f"page: {args.report}")
    if args.json:
        args.json.write_text(json.dumps({"training": rows, "evaluation": evaluation},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
