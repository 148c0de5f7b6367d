"""The results page (docs/results.md): what `jobs/reproduce.py --report PAGE` writes.

Each reproduced dataset leaves one JSON record in the page's folder (docs/results/<dataset>.json:
the protocol, command, machine, wall time, commit and every run's numbers) and its figures as
PNGs beside it. The page is rendered from all the records there, so datasets reproduced by
separate commands (or on different machines) end up on one page, each with its own command.
A hand-written `discussion.md` in that folder, if present, is included as the page's last
section: the generated parts state the numbers, the discussion says what we think explains them.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

import torch

from ..config import METHODS
from ..config.identity import differing
from ..catalog import DATASETS, dataset_label
from ..errors import UserError
from ..files import write_json, write_text
from ..home import CHECKOUT
from ..method.mask_state import read_mask_parquet
from ..method.masking import mask_counts
from ..plots import (plot_claims, plot_drop_curves, plot_k_histograms, plot_k_trajectory,
                     plot_mprt, svg_copies)
from ..run_folder import RunFolder
from .compare import (BATTERY_COLUMNS, arrow, columns_mean_std, count_label, families_line,
                      mean_std, plus_minus, record_from_folder, select_protocol)
from .paired import PairedDifference, claim_table
from .paper_tables import PAPER_TABLES
from .report import saliency_figure
from .sanity import randomisation_order
from .trained_run import load_trained

RECORD_VERSION = 1
K_TRAJECTORY_KEYS = ("k_min", "k_median", "k_max", "k_share_at_min", "k_share_at_max")
DISCUSSION_FILE = "discussion.md"
RESULT_SOURCES = ("smoot_dist", "jobs", "configs", "pyproject.toml")  # what makes the numbers


# -- gathering ---------------------------------------------------------------------------------
def git_commit() -> str:
    """The checkout's commit (short), `+changes` when its code or configs differ from it (not its
    docs: writing the page changes docs/results/ itself)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=CHECKOUT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    if CHECKOUT is None:  # an installed package: no git history to name
        return "unknown"
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *RESULT_SOURCES)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + (" +changes" if dirty else "")


def machine_description(device: str) -> str:
    where = (torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available()
             else f"CPU only ({platform.processor() or platform.machine()})")
    return (f"{os.cpu_count()} CPU cores, {where}; {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def k_trajectory(summary: dict[str, Any]) -> tuple[list[dict[str, float]], str]:
    """K statistics per epoch: from the run's MLflow metrics where the run was tracked (the
    numbers a user sees in the UI), else from its summary (the same numbers, written beside)."""
    tracked = summary.get("mlflow") or {}
    if tracked.get("run_id") and tracked.get("tracking_uri"):
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient(tracked["tracking_uri"])
            by_epoch: dict[int, dict[str, float]] = {}
            for key in K_TRAJECTORY_KEYS:
                for m in client.get_metric_history(tracked["run_id"], key):
                    by_epoch.setdefault(int(m.step), {"epoch": int(m.step)})[key] = m.value
            rows = [r for _, r in sorted(by_epoch.items()) if len(r) == 1 + len(K_TRAJECTORY_KEYS)]
            if len(rows) == len(summary.get("epochs", ())):
                return rows, "MLflow"
        except (MlflowException, OSError):
            pass  # the store moved or is gone: the run folder has the same numbers
    rows = [{"epoch": e["epoch"], "k_min": e["k"]["min"], "k_median": e["k"]["median"],
             "k_max": e["k"]["max"], "k_share_at_min": e["k"]["share_at_min"],
             "k_share_at_max": e["k"]["share_at_max"]} for e in summary.get("epochs", ())]
    return rows, "summary"


def run_entry(folder: Path, evaluation: str | None, auc_method: str = "grad") -> dict[str, Any]:
    """One run's numbers for the record: accuracy (%), from the evaluation `evaluation` (a
    protocol id; None: the one the run's records share most) Grad's MoRF AUC, SRG, curves and
    battery, and K."""
    record = record_from_folder(folder)
    select_protocol([record], evaluation if evaluation in {e.id for e in record.evaluations}
                    else None)
    summary = RunFolder(folder).read_summary() or {}
    trajectory, source = k_trajectory(summary)
    curves, chosen = record.curves, record.evaluation
    battery = {key: record.value(key, auc_method) for _, key, _ in BATTERY_COLUMNS}
    return {
        "run": folder.name, "method": record.method, "seed": record.seed,
        "accuracy": 100.0 * record.accuracy, "num_test": record.num_test,
        "auc": record.auc.get(auc_method), "srg": record.srg.get(auc_method),
        "battery": {k: v for k, v in battery.items() if v is not None},
        "mprt_curve": chosen.value("mprt_spearman", auc_method) if chosen else None,
        "evaluation": chosen.id if chosen else None,
        "evaluation_text": chosen.protocol.describe() if chosen else None,
        "auc_images": chosen.protocol.images if chosen else None,
        "fractions": list(curves.fractions) if curves else None,
        "morf": curves.accuracy.get(auc_method) if curves else None,
        "lerf": curves.lerf.get(auc_method) if curves else None,
        "k": record.k, "k_epochs": trajectory, "k_source": source, "settings": record.settings,
        "num_pixels": summary.get("num_pixels"),
        "k_bounds": [summary["config"]["method"][b] for b in ("k_min", "k_max")],
        "wall_time_s": summary.get("wall_time_s"),
        "eval_time_s": (chosen.about.get("seconds") or 0.0) if chosen else 0.0,
    }


def dataset_record(dataset: str, folders: list[Path], evaluation: str | None = None,
                   **about: Any) -> dict[str, Any]:
    """The JSON record of one reproduced dataset: `about` holds protocol, command, machine, ..."""
    title = DATASETS[dataset].title if dataset in DATASETS else dataset_label(dataset)
    runs = [run_entry(Path(f), evaluation) for f in folders]
    _one_setting_per_method(runs)
    return {"version": RECORD_VERSION, "dataset": dataset, "title": title,
            "date": datetime.date.today().isoformat(), "commit": git_commit(), **about,
            "runs": runs}


def _one_setting_per_method(runs: list[dict[str, Any]]) -> None:
    """The page pools a method's runs as seeds and pairs them by seed: refused when they were
    trained with different settings (config/identity), which would be no replicates."""
    for method in dict.fromkeys(r["method"] for r in runs):
        these = [r for r in runs if r["method"] == method]
        keys = differing([r["settings"] for r in these])
        if keys:
            raise UserError(f"the {METHODS.get(method, method)} runs differ in {', '.join(keys)} "
                            f"({', '.join(r['run'] for r in these)}); a results page pools one "
                            f"setting per method: pass runs of one setting")


# -- figures -----------------------------------------------------------------------------------
def _by_method(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(record["runs"], key=lambda r: r["seed"]):
        out.setdefault(r["method"], []).append(r)
    return {m: out[m] for m in sorted(out, key=lambda m: list(METHODS).index(m)
                                      if m in METHODS else 99)}


def write_figures(record: dict[str, Any], folders: list[Path], figdir: Path,
                  saliency_images: int = 6) -> dict[str, str]:
    """The dataset's figures in `figdir`, each as PNG (the page shows it) and SVG beside it;
    returns {figure: PNG file name}."""
    with svg_copies():
        return _write_figures(record, folders, figdir, saliency_images)


def _write_figures(record: dict[str, Any], folders: list[Path], figdir: Path,
                   saliency_images: int) -> dict[str, str]:
    figdir.mkdir(parents=True, exist_ok=True)
    label, title = dataset_label(record["dataset"]), record["title"]
    files: dict[str, str] = {}
    groups = _by_method(record)
    curves = {METHODS.get(m, m): columns_mean_std([r["morf"] for r in rs])
              for m, rs in groups.items() if all(r["morf"] for r in rs)}
    fractions = next((r["fractions"] for r in record["runs"] if r["fractions"]), None)
    if curves and fractions:
        name = f"{label}_drop_curves.png"
        spec = DATASETS.get(record["dataset"])
        aucs = {METHODS.get(m, m): statistics.fmean(r["auc"] for r in rs)
                for m, rs in groups.items() if all(r["auc"] is not None for r in rs)}
        plot_drop_curves({k: v[0] for k, v in curves.items()}, fractions, figdir / name,
                         f"{title}: accuracy drop, Grad, MoRF (mean ± std over seeds)",
                         {k: v[1] for k, v in curves.items()},
                         chance=100.0 / spec.num_classes if spec else None, aucs=aucs)
        files["drop_curves"] = name
    smoot = groups.get("smoot", [])
    if smoot:
        epochs = [row["epoch"] for row in smoot[0]["k_epochs"]]
        stats = {key: columns_mean_std([[row[key] for row in r["k_epochs"]] for r in smoot])
                 for key in K_TRAJECTORY_KEYS}
        num_pixels, (k_min, k_max) = smoot[0]["num_pixels"], smoot[0]["k_bounds"]
        bounds = (round(k_min * num_pixels), round(k_max * num_pixels))
        name = f"{label}_k_trajectory.png"
        plot_k_trajectory(epochs, stats, bounds, figdir / name,
                          f"{title}, SMOOT: K during training (mean ± std over {len(smoot)} seeds)")
        files["k_trajectory"] = name
        counts = {}
        for r in smoot:
            folder = RunFolder(_folder_of(folders, r["run"]))
            if folder.mask_state_path.is_file():
                k = read_mask_parquet(folder.mask_state_path)
                counts[f"seed {r['seed']}"] = mask_counts(k, num_pixels)
        if counts:
            name = f"{label}_k_histogram.png"
            plot_k_histograms(counts, num_pixels, k_min, k_max, figdir / name,
                              f"{title}, SMOOT: final K per training sample")
            files["k_histogram"] = name
    mprt = {METHODS.get(m, m): columns_mean_std([r["mprt_curve"] for r in rs])
            for m, rs in groups.items() if all(r.get("mprt_curve") for r in rs)}
    if mprt:
        name = f"{label}_mprt.png"
        model = load_trained(str(folders[0])).model
        plot_mprt({k: v[0] for k, v in mprt.items()}, None, randomisation_order(model),
                  figdir / name, f"{title}: model-parameter randomisation, Grad (mean ± std over "
                                 f"seeds)", {k: v[1] for k, v in mprt.items()})
        files["mprt"] = name
    claims = write_claims_figure(record, figdir)
    if claims:
        files["claims"] = claims
    name = f"{label}_saliency.png"
    records = [record_from_folder(Path(f)) for f in folders]
    if saliency_figure(records, figdir / name, saliency_images, None):
        files["saliency"] = name
    return files


def write_claims_figure(record: dict[str, Any], figdir: Path) -> str | None:
    """The claims' intervals as a PNG in `figdir` (its name), or None below two paired seeds."""
    claims = [c for c in _claim_rows(record) if c.n > 1]
    if not claims:
        return None
    name = f"{dataset_label(record['dataset'])}_claims.png"
    plot_claims([(c.claim.split(" (")[0], c.metric, c.mean, c.low, c.high) for c in claims],
                figdir / name, f"{record['title']}: the paper's claims over "
                f"{max(c.n for c in claims)} seeds\n(green: holds, grey: not resolved, red: reversed)")
    return name


def _folder_of(folders: list[Path], run: str) -> Path:
    return next(Path(f) for f in folders if Path(f).name == run)


# -- the page ----------------------------------------------------------------------------------
def _fmt(values: list[float], digits: int = 2, unit: str = "") -> str:
    return plus_minus(*mean_std(values), len(values), digits, unit) if values else "-"


def _battery_columns(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [c for c in BATTERY_COLUMNS if any(c[1] in r.get("battery", {}) for r in record["runs"])]


def _our_table(record: dict[str, Any]) -> list[str]:
    columns = _battery_columns(record)
    lines = [f"| {record['title']} | # Test | Min(K) | Median(K) | Max(K) | Accuracy | "
             "AUC (Grad, MoRF) ↓ | SRG (Grad) ↑ | "
             + "".join(f"{title} {arrow(key)} | " for _, key, title in columns) + "seeds |",
             "|---" * (9 + len(columns)) + "|"]
    for method, rs in _by_method(record).items():
        k = " | ".join(_fmt([float(r["k"][key]) for r in rs], 0) for key in ("min", "median", "max"))
        aucs = [r["auc"] for r in rs if r["auc"] is not None]
        gains = [r["srg"] for r in rs if r["srg"] is not None]
        battery = ""
        for _, key, _ in columns:
            values = [r["battery"][key] for r in rs if key in r.get("battery", {})]
            scale = 100.0 if key == "pgd_accuracy" else 1.0
            battery += (_fmt([scale * v for v in values], 3) if len(values) == len(rs) else "-") + " | "
        lines.append(f"| {METHODS.get(method, method)} | {count_label(max(r['num_test'] for r in rs))} | "
                     f"{k} | {_fmt([r['accuracy'] for r in rs], unit='%')} | "
                     f"{_fmt(aucs) if len(aucs) == len(rs) else '-'} | "
                     f"{_fmt(gains) if len(gains) == len(rs) else '-'} | {battery}{len(rs)} |")
    return lines


def _paper_table(dataset: str) -> list[str]:
    if dataset not in PAPER_TABLES:
        return []
    table, rows = PAPER_TABLES[dataset]
    lines = [f"The paper's {table} (its numbers, one run each, 100 epochs on the full training "
             "set):", "", "| Method | # Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC |",
             "|---" * 7 + "|"]
    for method, r in rows.items():
        auc = f"{r['auc']:.2f}" if r["auc"] is not None else "-"
        lines.append(f"| {METHODS[method]} | 10K | {' | '.join(map(str, r['k']))} | "
                     f"{r['accuracy']:.2f}% | {auc} |")
    return lines


def _claim_rows(record: dict[str, Any]) -> list[PairedDifference]:
    values: dict[str, dict[str, dict[int, float]]] = {"accuracy": {}, "auc": {}}
    for r in record["runs"]:
        values["accuracy"].setdefault(r["method"], {})[r["seed"]] = r["accuracy"]
        if r["auc"] is not None:
            values["auc"].setdefault(r["method"], {})[r["seed"]] = r["auc"]
        for key, value in (r.get("battery") or {}).items():
            scale = 100.0 if key == "pgd_accuracy" else 1.0
            values.setdefault(key, {}).setdefault(r["method"], {})[r["seed"]] = scale * value
    titles = {key: title for _, key, title in BATTERY_COLUMNS}
    return claim_table(values, titles)


def _claims(record: dict[str, Any]) -> list[str]:
    rows = _claim_rows(record)
    if not rows:
        return []
    lines = ["| Claim | A - B, mean over seeds | 95% interval | seeds | at this scale |",
             "|---|---|---|---|---|"]
    for c in rows:
        unit = " points" if c.metric in ("accuracy", "pgd_accuracy") else ""
        interval = f"[{c.low:+.2f}, {c.high:+.2f}]" if c.n > 1 else "-"
        lines.append(f"| {c.claim} (A = {METHODS[c.a]}, B = {METHODS[c.b]}) | {c.mean:+.2f}{unit} | "
                     f"{interval} | {c.n} | {c.verdict} |")
    return lines


def _k_epochs_table(record: dict[str, Any]) -> list[str]:
    smoot = _by_method(record).get("smoot", [])
    if not smoot:
        return []
    lines = ["| epoch | Min(K) | Median(K) | Max(K) | at k_min | at k_max |", "|---" * 6 + "|"]
    for i, row in enumerate(smoot[0]["k_epochs"]):
        def avg(key: str, scale: float = 1.0) -> float:
            return scale * statistics.fmean(r["k_epochs"][i][key] for r in smoot)
        lines.append(f"| {row['epoch']} | {avg('k_min'):.0f} | {avg('k_median'):.1f} | "
                     f"{avg('k_max'):.0f} | {avg('k_share_at_min', 100):.1f}% | "
                     f"{avg('k_share_at_max', 100):.1f}% |")
    return lines


def _differences(record: dict[str, Any]) -> list[str]:
    """Where our numbers and the paper's differ, stated, not explained (discussion.md does)."""
    if record["dataset"] not in PAPER_TABLES:
        return []
    paper = PAPER_TABLES[record["dataset"]][1]
    groups = _by_method(record)
    lines = []
    for method, p in paper.items():
        rs = groups.get(method)
        if not rs:
            continue
        acc = statistics.fmean(r["accuracy"] for r in rs)
        text = f"- {METHODS[method]}: accuracy {acc:.2f}% here vs {p['accuracy']:.2f}% in the paper"
        aucs = [r["auc"] for r in rs if r["auc"] is not None]
        if aucs and p["auc"] is not None:
            text += f"; AUC {statistics.fmean(aucs):.2f} vs {p['auc']:.2f}"
        if method == "smoot":
            k = {key: statistics.fmean(float(r["k"][key]) for r in rs) for key in ("min", "median", "max")}
            text += (f"; K {k['min']:.0f} / {k['median']:.0f} / {k['max']:.0f} vs "
                     f"{' / '.join(map(str, p['k']))}")
        lines.append(text + ".")
    return lines


def _wall_time(record: dict[str, Any]) -> str:
    """This command's wall time; when it reused runs of an earlier command with the same --id
    (added seeds), also what all the runs took, which is what the command costs from scratch."""
    wall = record["wall_s"]
    text = f"Wall time {wall / 60:.0f} min" if wall >= 60 else f"Wall time {wall:.0f} s"
    reused, runs = record.get("reused", 0), record["runs"]
    if not reused:
        return text
    total = sum((r.get("wall_time_s") or 0) + (r.get("eval_time_s") or 0) for r in runs)
    return (f"{text}: this command reused {reused} of its {len(runs)} runs from an earlier one with "
            f"the same --id; training and evaluating all {len(runs)} took {total / 60:.0f} min")


def _dataset_section(record: dict[str, Any], figdir_name: str) -> list[str]:
    figures = record.get("figures", {})
    seeds = sorted({r["seed"] for r in record["runs"]})
    auc_images = next((r["auc_images"] for r in record["runs"] if r["auc_images"]), None)
    evaluation_text = next((r["evaluation_text"] for r in record["runs"]
                            if r.get("evaluation_text")), None)
    num_test = max(r["num_test"] for r in record["runs"])
    evaluated = (f"AUC and SRG on {auc_images:,} class-balanced test images (Grad saliency, "
                 f"removed pixels set to the background)." if auc_images else "No saliency evaluation.")
    if evaluation_text:
        evaluated += f" The evaluation's protocol: {evaluation_text}."
    columns = _battery_columns(record)
    if columns:
        evaluated += (f" Battery columns (Grad; PGD accuracy in %; ↑/↓: higher/lower is better, "
                      f"docs/method.md defines each): {families_line(columns)}.")
    out = [f"## {record['title']}", "", "```", record["command"], "```", "",
           f"Protocol `{record['protocol']}`: {record['settings']}; seeds "
           f"{', '.join(map(str, seeds))}. Accuracy on {num_test:,} test images; {evaluated}", "",
           f"Machine: {record['machine']}. {_wall_time(record)}. Commit "
           f"`{record['commit']}`, {record['date']}. K per epoch read from "
           f"{'/'.join(sorted({r['k_source'] for r in record['runs']}))}.", "",
           *_our_table(record), "", *_paper_table(record["dataset"]), ""]
    claims = _claims(record)
    if claims:
        out += ["### The paper's claims at this scale", "",
                "Paired by seed: each row is method A minus method B over the seeds both ran, "
                "with a 95% Student-t interval. A claim holds when the whole interval is on its "
                "side of 0.", "", *claims, ""]
        if "claims" in figures:
            out += [f"![{record['title']}: the claims' intervals]({figdir_name}/{figures['claims']})",
                    ""]
    k_rows = _k_epochs_table(record)
    if k_rows:
        out += ["### K during training (SMOOT, mean over seeds)", "", *k_rows, ""]
    for key, caption in (("k_trajectory", "K per epoch and the samples at each bound"),
                         ("drop_curves", "Accuracy drop as the most salient pixels are removed"),
                         ("mprt", "Grad's similarity to itself as the layers are randomised "
                                  "(lower: it depends on the weights)"),
                         ("k_histogram", "Final K over the training samples (SMOOT)"),
                         ("saliency", "Grad saliency of each method's seed-0 model")):
        if key in figures:
            out += [f"![{record['title']}: {caption}]({figdir_name}/{figures[key]})", ""]
    diffs = _differences(record)
    if diffs:
        out += ["### Ours beside the paper's", "", *diffs, ""]
    return out


def render_page(records: list[dict[str, Any]], figdir_name: str, discussion: str | None) -> str:
    out = ["# Results: the paper's comparisons, reproduced", "",
           "Generated by `jobs/reproduce.py --report` (each dataset's command is in its section; "
           "do not edit by hand, except `" + f"{figdir_name}/{DISCUSSION_FILE}" + "`). Methods: "
           "traditional training, SGT (a fixed share of the least salient pixels masked), SMOOT "
           "(that share adapted per sample) and the random-mask ablation (SGT masking random "
           "pixels). Accuracy is on the test set; AUC is the area under the accuracy-drop curve as "
           "the most salient pixels (Grad) are removed, 0% to 90% (MoRF; lower is better); SRG = "
           "AUC(LeRF) - AUC(MoRF) (higher is better). Numbers are mean ± std over seeds; the "
           "paper's tables are single runs.", ""]
    for record in sorted(records, key=lambda r: r["dataset"]):
        out += _dataset_section(record, figdir_name)
    if discussion:
        out += [discussion.strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(page: Path, record: dict[str, Any] | None) -> Path:
    """Save `record` (if given) in the page's folder and render the page from all records there."""
    figdir = page.with_suffix("")
    figdir.mkdir(parents=True, exist_ok=True)
    if record is not None:
        write_json(figdir / f"{record['dataset']}.json", record)
    records = [json.loads(p.read_text()) for p in sorted(figdir.glob("*.json"))]
    records = [r for r in records if r.get("version") == RECORD_VERSION]
    discussion_path = figdir / DISCUSSION_FILE
    discussion = discussion_path.read_text() if discussion_path.is_file() else None
    write_text(page, render_page(records, figdir.name, discussion))
    return page
