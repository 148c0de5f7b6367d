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
from ..foundations.catalog import DATASETS, dataset_title, decoy_source
from ..foundations.errors import UserError
from ..foundations.files import write_json, write_text
from ..foundations.home import CHECKOUT
from ..method.mask_state import read_mask_parquet
from ..method.masking import mask_counts
from ..plots.curves import plot_claims, plot_drop_curves, plot_mprt
from ..plots.figure import svg_copies
from ..plots.k_distribution import plot_k_histograms, plot_k_trajectory
from ..runs.folder import RunFolder
from .comparison import (columns_mean_std, families_line, record_from_folder,
                      select_protocol)
from .paper_tables import PAPER_TABLES
from .comparison_report import saliency_figure
from .results_tables import (battery_columns_of, by_method, claim_lines, claim_rows, figure_lines,
                             folder_of, k_epochs_table, k_label, method_title, our_table,
                             record_name, wall_time_text, is_tuned)
from ..metrics import table_columns
from ..metrics.randomisation.sanity import randomisation_order
from .shortcut_page import SHORTCUTS_INTRO, is_decoy, shortcut_section
from .tuned_page import tuned_section
from ..evaluation.trained_run import load_trained

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
                              timeout=60).stdout.strip()
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
    battery = {key: record.value(key, auc_method) for _, key, _ in table_columns()}
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
                   labels: dict[str, str] | None = None, **about: Any) -> dict[str, Any]:
    """The JSON record of one reproduced dataset: `about` holds protocol, command, machine, ...
    `labels` (run folder name -> label) sets runs apart from their method's others, e.g. the
    tuned SMOOT runs (smoot_tuned) beside the preset's."""
    title = dataset_title(dataset)
    runs = [run_entry(Path(f), evaluation) for f in folders]
    for run in runs:
        run["method"] = (labels or {}).get(run["run"], run["method"])
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
            raise UserError(f"the {method_title(method)} runs differ in {', '.join(keys)} "
                            f"({', '.join(r['run'] for r in these)}); a results page pools one "
                            f"setting per method: pass runs of one setting")


# -- figures -----------------------------------------------------------------------------------
def write_figures(record: dict[str, Any], folders: list[Path], figdir: Path,
                  saliency_images: int = 6) -> dict[str, str]:
    """The dataset's figures in `figdir`, each as PNG (the page shows it) and SVG beside it;
    returns {figure: PNG file name}."""
    with svg_copies():
        return _write_figures(record, folders, figdir, saliency_images)


def _write_figures(record: dict[str, Any], folders: list[Path], figdir: Path,
                   saliency_images: int) -> dict[str, str]:
    figdir.mkdir(parents=True, exist_ok=True)
    label, title = record_name(record), record["title"]
    files: dict[str, str] = {}
    groups = by_method(record)
    curves = {method_title(m): columns_mean_std([r["morf"] for r in rs])
              for m, rs in groups.items() if all(r["morf"] for r in rs)}
    fractions = next((r["fractions"] for r in record["runs"] if r["fractions"]), None)
    if curves and fractions:
        name = f"{label}_drop_curves.png"
        spec = DATASETS.get(decoy_source(record["dataset"]) or record["dataset"])
        aucs = {method_title(m): statistics.fmean(r["auc"] for r in rs)
                for m, rs in groups.items() if all(r["auc"] is not None for r in rs)}
        plot_drop_curves({k: v[0] for k, v in curves.items()}, fractions, figdir / name,
                         f"{title}: accuracy drop, Grad, MoRF (mean ± std over seeds)",
                         {k: v[1] for k, v in curves.items()},
                         chance=100.0 / spec.num_classes if spec else None, aucs=aucs)
        files["drop_curves"] = name
    smoot = groups.get(k_label(record), [])
    if smoot:
        epochs = [row["epoch"] for row in smoot[0]["k_epochs"]]
        stats = {key: columns_mean_std([[row[key] for row in r["k_epochs"]] for r in smoot])
                 for key in K_TRAJECTORY_KEYS}
        num_pixels, (k_min, k_max) = smoot[0]["num_pixels"], smoot[0]["k_bounds"]
        bounds = (round(k_min * num_pixels), round(k_max * num_pixels))
        name = f"{label}_k_trajectory.png"
        plot_k_trajectory(epochs, stats, bounds, figdir / name,
                          f"{title}, {method_title(k_label(record))}: K during training (mean ± std over {len(smoot)} seeds)")
        files["k_trajectory"] = name
        counts = {}
        for r in smoot:
            folder = RunFolder(folder_of(folders, r["run"]))
            if folder.mask_state_path.is_file():
                k = read_mask_parquet(folder.mask_state_path)
                counts[f"seed {r['seed']}"] = mask_counts(k, num_pixels)
        if counts:
            name = f"{label}_k_histogram.png"
            plot_k_histograms(counts, num_pixels, k_min, k_max, figdir / name,
                              f"{title}, {method_title(k_label(record))}: final K per "
                              f"training sample")
            files["k_histogram"] = name
    mprt = {method_title(m): columns_mean_std([r["mprt_curve"] for r in rs])
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


def _claims_kind(record: dict[str, Any]) -> str:
    if is_tuned(record):
        return "tuned comparison's"
    return "shortcut" if decoy_source(record["dataset"]) is not None else "paper's"


def write_claims_figure(record: dict[str, Any], figdir: Path) -> str | None:
    """The claims' intervals as a PNG in `figdir` (its name), or None below two paired seeds."""
    claims = [c for c in claim_rows(record) if c.n > 1]
    if not claims:
        return None
    name = f"{record_name(record)}_claims.png"
    plot_claims([(c.claim.split(" (")[0], c.metric, c.mean, c.low, c.high) for c in claims],
                figdir / name, f"{record['title']}: the "
                f"{_claims_kind(record)} claims over "
                f"{max(c.n for c in claims)} seeds\n(green: holds, grey: not resolved, red: reversed)")
    return name


# -- the page ----------------------------------------------------------------------------------
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


def _differences(record: dict[str, Any]) -> list[str]:
    """Where our numbers and the paper's differ, stated, not explained (discussion.md does)."""
    if record["dataset"] not in PAPER_TABLES:
        return []
    paper = PAPER_TABLES[record["dataset"]][1]
    groups = by_method(record)
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
    columns = battery_columns_of(record)
    if columns:
        evaluated += (f" Battery columns (Grad; PGD accuracy in %; ↑/↓: higher/lower is better, "
                      f"docs/method.md defines each): {families_line(columns)}.")
    out = [f"## {record['title']}", "", "```", record["command"], "```", "",
           f"Protocol `{record['protocol']}`: {record['settings']}; seeds "
           f"{', '.join(map(str, seeds))}. Accuracy on {num_test:,} test images; {evaluated}", "",
           f"Machine: {record['machine']}. {wall_time_text(record)}. Commit "
           f"`{record['commit']}`, {record['date']}. K per epoch read from "
           f"{'/'.join(sorted({r['k_source'] for r in record['runs']}))}.", "",
           *our_table(record), "", *_paper_table(record["dataset"]), ""]
    claims = claim_lines(record)
    if claims:
        out += ["### The paper's claims at this scale", "",
                "Paired by seed: each row is method A minus method B over the seeds both ran, "
                "with a 95% Student-t interval. A claim holds when the whole interval is on its "
                "side of 0.", "", *claims, ""]
        if "claims" in figures:
            out += [f"![{record['title']}: the claims' intervals]({figdir_name}/{figures['claims']})",
                    ""]
    k_rows = k_epochs_table(record)
    if k_rows:
        out += ["### K during training (SMOOT, mean over seeds)", "", *k_rows, ""]
    out += figure_lines(record, figdir_name,
                        ("k_trajectory", "K per epoch and the samples at each bound"),
                        ("drop_curves", "Accuracy drop as the most salient pixels are removed"),
                        ("mprt", "Grad's similarity to itself as the layers are randomised "
                                 "(lower: it depends on the weights)"),
                        ("k_histogram", "Final K over the training samples (SMOOT)"),
                        ("saliency", "Grad saliency of each method's seed-0 model"))
    diffs = _differences(record)
    if diffs:
        out += ["### Ours beside the paper's", "", *diffs, ""]
    return out


TUNED_INTRO = [
    "# Tuned against tuned", "",
    "The sections above train every method with the paper's settings. Here each masking method's "
    "own settings are first searched by a Ray Tune sweep (ASHA early stopping) that selects on a "
    "validation split held out of the training images, never on the test set; the best setting "
    "of each is then trained for several seeds and evaluated on the test set exactly as above, "
    "beside the untuned methods trained on the same images.", ""]


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
    for record in sorted((r for r in records if not is_tuned(r) and not is_decoy(r)),
                         key=lambda r: r["dataset"]):
        out += _dataset_section(record, figdir_name)
    decoys = sorted((r for r in records if is_decoy(r) and not is_tuned(r)), key=lambda r: r["dataset"])
    if decoys:
        out += SHORTCUTS_INTRO
        for record in decoys:
            out += shortcut_section(record, figdir_name)
    tuned = sorted((r for r in records if is_tuned(r)), key=lambda r: r["dataset"])
    if tuned:
        out += TUNED_INTRO
        for record in tuned:
            out += tuned_section(record, figdir_name)
    if discussion:
        out += [discussion.strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(page: Path, record: dict[str, Any] | None) -> Path:
    """Save `record` (if given) in the page's folder and render the page from all records there."""
    figdir = page.with_suffix("")
    figdir.mkdir(parents=True, exist_ok=True)
    if record is not None:
        write_json(figdir / f"{record_name(record)}.json", record)
    records = [json.loads(p.read_text()) for p in sorted(figdir.glob("*.json"))]
    records = [r for r in records if r.get("version") == RECORD_VERSION]
    discussion_path = figdir / DISCUSSION_FILE
    discussion = discussion_path.read_text() if discussion_path.is_file() else None
    write_text(page, render_page(records, figdir.name, discussion))
    return page
