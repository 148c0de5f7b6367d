"""The comparison report: table (Markdown + CSV), overlaid drop curves, saliency-map figure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..config import METHODS, TrackingConfig
from ..data.loading import channel_stats, load_test_split, normalize
from ..foundations.catalog import DATASETS, dataset_label, dataset_title, decoy_source
from ..data.subset import balanced_subset
from ..foundations.errors import UserError
from ..plots.curves import plot_drop_curves
from ..plots.images import plot_saliency_grid
from ..attribution import title as method_title
from ..attribution.methods import make_attributor, quiet_captum
from .comparison import (RunRecord, aggregate, battery_columns, families_line, markdown_table,
                      record_from_folder, records_from_mlflow, row_title, select_protocol,
                      write_csv)
from ..metrics.faithfulness.morf import FRACTIONS
from ..evaluation.trained_run import load_trained
from ..runs.tracking import resolve_tracking_uri


def saliency_figure(records: list[RunRecord], path: Path, n_images: int,
                    tracking_uri: str | None) -> Path | None:
    """Grad saliency of the first run of each method on the same test images."""
    first: dict[str, RunRecord] = {}
    for r in sorted(records, key=lambda r: r.seed):
        first.setdefault(r.method, r)
    if not first or n_images < 1:
        return None
    runs = {m: load_trained(r.source, tracking_uri) for m, r in first.items()}
    any_run = next(iter(runs.values()))
    splits = load_test_split(replace(any_run.cfg.data, train_subset=None, test_subset=None))
    pick = balanced_subset(splits.test.labels, max(n_images, splits.spec.num_classes),
                           splits.spec.num_classes, "test")[:n_images]
    images, labels = splits.test.images[pick], splits.test.labels[pick]
    names = [splits.spec.class_name(i) for i in labels.tolist()]
    mean, std = channel_stats(splits.spec, "cpu")
    x = normalize(images, mean, std)
    h = w = splits.spec.image_size
    maps = {}
    for method, title in METHODS.items():
        if method in runs:
            model = runs[method].model.eval()
            with quiet_captum():
                maps[title] = make_attributor("grad", model)(x, labels).view(-1, h, w)
    decoy = splits.test.decoy
    return plot_saliency_grid(images, maps, path, f"{splits.spec.title}: Grad saliency"
                              + (" (the decoy patch outlined)" if decoy is not None else ""),
                              row_labels=names,
                              outlines=decoy.region[pick] if decoy is not None else None)


def compare_and_report(out: Path, *, folders: list[Path] | None = None,
                       run_ids: list[str] | None = None, experiment: str = TrackingConfig.experiment,
                       tags: dict[str, str] | None = None, tracking_uri: str | None = None,
                       auc_method: str = "grad", figure_images: int = 6,
                       evaluation: str | None = None) -> str:
    if folders:
        records = [record_from_folder(Path(f).expanduser()) for f in folders]
    else:
        tracking_uri = resolve_tracking_uri(tracking_uri)
        records = records_from_mlflow(tracking_uri, experiment, tags, run_ids)
    if not records:
        raise UserError("no finished runs to compare; train some with jobs/train.py (or widen "
                        "--experiment/--tag)")
    protocol = select_protocol(records, evaluation)
    rows = aggregate(records, auc_method)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    measured = (f"evaluation {protocol.id}: {protocol.describe()}" if protocol else
                "no run has been evaluated")
    missing = [r.name for r in records if protocol and r.evaluation is None]
    columns = battery_columns(rows)
    header = (f"AUC: accuracy-drop AUC (MoRF) with {method_title(auc_method)} "
              f"attributions (lower is better); mean ± std over the seeds of one setting. "
              f"From {measured}."
              + (" Runs of one method whose training settings differ are separate rows, the "
                 "settings they differ in in [brackets]." if any(r.setting for r in rows) else "")
              + (f" Not evaluated so: {', '.join(missing)} (-)." if missing else "")
              + (f" Battery ({method_title(auc_method)}; ↑/↓: higher/lower is "
                 f"better): {families_line(columns)}." if columns else ""))
    (out / "comparison.md").write_text(f"{header}\n\n{table}")
    write_csv(rows, out / "comparison.csv", protocol.id if protocol else None)
    for dataset in dict.fromkeys(r.dataset for r in rows):
        these = [r for r in rows if r.dataset == dataset and r.curve]
        if these:
            spec = DATASETS.get(decoy_source(dataset) or dataset)
            plot_drop_curves({row_title(r): r.curve[0] for r in these}, FRACTIONS,
                             out / f"drop_curves_{dataset_label(dataset)}.png",
                             f"{dataset_title(dataset)}: accuracy drop, "
                             f"{method_title(auc_method)}\n{protocol.short()}",
                             {row_title(r): r.curve[1] for r in these},
                             chance=100.0 / spec.num_classes if spec else None,
                             aucs={row_title(r): r.auc[0] for r in these if r.auc})
        saliency_figure([r for r in records if r.dataset == dataset],
                        out / f"saliency_maps_{dataset_label(dataset)}.png", figure_images,
                        tracking_uri)
    print(header)
    print(table)
    return table
