"""The results page's "Shortcuts" part: each decoy dataset's section (jobs/reproduce.py
--protocol decoy). Does saliency-guided training make a model ignore a patch that encodes the
label? Its table (accuracy on each test view, the shortcut gap, the decoy share), the paired
claims (SGT and SMOOT against traditional training, SMOOT against SGT, each against the random
mask and against RRR), the saliency of the same test images per method with the patch outlined,
and where SMOOT's K went: the final K of the training samples whose saliency looked at their
patch against the others'."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch

from ..attribution.methods import make_attributor, quiet_captum
from ..data.loading import channel_stats, load_splits, normalize
from ..evaluation.trained_run import load_trained
from ..foundations.catalog import decoy_source
from ..method.mask_state import read_mask_parquet
from ..method.masking import mask_counts
from ..metrics.localisation import relevance_mass
from ..plots.figure import svg_copies
from ..plots.k_distribution import plot_k_histograms
from ..runs.folder import RunFolder
from .results_tables import (by_method, claim_lines, figure_lines, folder_of, k_label, method_title,
                             our_table, record_name, wall_time_text)

SHORTCUTS_INTRO = [
    "# Shortcuts: does saliency-guided training ignore a decoy?", "",
    "SGT and SMOOT mask the least salient pixels so that irrelevant features weigh less. A decoy "
    "dataset tests that with ground truth (Ross et al. 2017, Decoy MNIST): every training image "
    "has a patch in a corner whose grey level encodes its label, a shortcut a model can learn "
    "instead of the object. The test images are shown with the patch encoding a random class "
    "(the decoy view, the benchmark), encoding the label (the shortcut view) and without it "
    "(clean). The shortcut gap is shortcut minus decoy accuracy (0: the patch carries nothing); "
    "the decoy share is the share of |Grad| on the patch (a random map: the patch's area). RRR "
    "(Right for the Right Reasons) is told where the patch is and penalises the input gradient "
    "there: a reference of what ignoring it can reach, using what SGT and SMOOT never see.", ""]


def is_decoy(record: dict[str, Any]) -> bool:
    return decoy_source(record["dataset"]) is not None


def _median(k: torch.Tensor) -> float | None:
    return float(k.float().median()) if len(k) else None


def decoy_attention(folder: Path,
                    batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(the final K of each training sample, whether its Grad saliency under the final model
    put more than the patch's area on its patch), or None for a run without a mask state."""
    state = RunFolder(folder).mask_state_path
    if not state.is_file():  # before loading the model and the training images it would need
        return None
    run = load_trained(str(folder))
    train = load_splits(run.cfg.data).train  # the training images as the run had them
    num_pixels = run.spec.num_pixels
    counts = mask_counts(read_mask_parquet(state, len(train)), num_pixels)
    mean, std = channel_stats(run.spec, "cpu")
    attribute = make_attributor("grad", run.model.eval())
    looked = []
    with quiet_captum():
        for start in range(0, len(train), batch_size):
            rows = slice(start, start + batch_size)
            a = attribute(normalize(train.images[rows], mean, std), train.labels[rows])
            region = train.decoy.region[rows]
            looked.append(relevance_mass(a, region) > region.float().mean(dim=1))
    return counts, torch.cat(looked)


def write_k_split(record: dict[str, Any], folders: list[Path], figdir: Path) -> dict[str, str]:
    """SMOOT's final K split by decoy attention: the figure (all seeds pooled) in `figdir`, and
    per seed the numbers in record["k_split"]. Returns {"k_split": file name}, or {}."""
    smoot = by_method(record).get(k_label(record), [])
    counts: dict[str, list[torch.Tensor]] = {"saliency on its patch": [], "elsewhere": []}
    rows = []
    for r in smoot:
        split = decoy_attention(folder_of(folders, r["run"]))
        if split is None:
            continue
        k, looked = split
        counts["saliency on its patch"].append(k[looked])
        counts["elsewhere"].append(k[~looked])
        rows.append({"seed": r["seed"], "looked": int(looked.sum()), "samples": len(k),
                     "median_k_looked": _median(k[looked]), "median_k_other": _median(k[~looked])})
    record["k_split"] = rows
    if not rows:
        return {}
    num_pixels, (k_min, k_max) = smoot[0]["num_pixels"], smoot[0]["k_bounds"]
    pooled = {f"{label} ({sum(map(len, parts)):,})": torch.cat(parts)
              for label, parts in counts.items() if sum(map(len, parts))}
    name = f"{record_name(record)}_k_split.png"
    with svg_copies():
        plot_k_histograms(pooled, num_pixels, k_min, k_max, figdir / name,
                          f"{record['title']}, SMOOT: final K by decoy attention\n(Grad: more "
                          f"than the patch's area on the patch, or not; {len(rows)} seed(s))",
                          density=True)
    return {"k_split": name}


def _k_split_lines(record: dict[str, Any]) -> list[str]:
    rows = record.get("k_split") or []
    if not rows:
        return []
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    lines = ["| seed | samples | saliency on the patch | median K, those | median K, the others |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['samples']:,} | {r['looked']:,} "
                     f"({100 * r['looked'] / r['samples']:.1f}%) | {fmt(r['median_k_looked'])} | "
                     f"{fmt(r['median_k_other'])} |")
    both = [r for r in rows if r["median_k_looked"] is not None and r["median_k_other"] is not None]
    if len(both) > 1:
        diff = statistics.fmean(r["median_k_looked"] - r["median_k_other"] for r in both)
        lines += ["", f"Mean over seeds of (median K of the samples whose saliency looked at the "
                      f"patch) minus (the others'): {diff:+.1f} pixels."]
    return lines


def shortcut_section(record: dict[str, Any], figdir_name: str) -> list[str]:
    seeds = sorted({r["seed"] for r in record["runs"]})
    images = next((r["auc_images"] for r in record["runs"] if r["auc_images"]), None)
    out = [f"## {record['title']}", "", "```", record["command"], "```", "",
           f"Protocol `{record['protocol']}`: {record['settings']}; seeds "
           f"{', '.join(map(str, seeds))}. The battery on {images or 'the'} test images of the "
           f"decoy view (Grad; shares and accuracies in %).", "",
           f"Machine: {record['machine']}. {wall_time_text(record)}. Commit "
           f"`{record['commit']}`, {record['date']}.", "", *our_table(record), ""]
    claims = claim_lines(record)
    if claims:
        out += ["### Does it ignore the decoy?", "",
                "Paired by seed: each row is method A minus method B over the seeds both ran, "
                "with a 95% Student-t interval; a claim holds when the whole interval is on its "
                "side of 0. Rows against the random mask ask whether the saliency's choice of "
                "what to mask matters; rows against RRR say how far a method is from the "
                "reference.", "",
                *claims, ""]
        out += figure_lines(record, figdir_name, ("claims", "the claims' intervals"))
    out += figure_lines(record, figdir_name,
                        ("drop_curves", "accuracy drop as the most salient pixels are removed"),
                        ("saliency", "Grad saliency of each method's seed-0 model, the patch "
                                     "outlined"))
    split = _k_split_lines(record)
    if split:
        out += [f"### Where {method_title(k_label(record))}'s K went", "",
                "The final K of each training sample, split by whether the final model's Grad "
                "saliency put more than the patch's share of the image on the sample's patch.",
                "", *split, "", *figure_lines(record, figdir_name,
                                              ("k_split", "final K by decoy attention"))]
    return out
