"""Compare finished runs as in the paper's tables, seeds aggregated as mean +- std.

  Method | #Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC

  python jobs/compare.py                                   # every run of the MLflow experiment
  python jobs/compare.py --tag sweep=abc --auc-method grad
  python jobs/compare.py --run-ids ID1,ID2,ID3
  python jobs/compare.py --runs ~/smoot_dist/runs/a ~/smoot_dist/runs/b    # no MLflow needed
  python jobs/compare.py --runs RUN1 RUN2 --evaluation 2000img-background-s0-1f56d303
  python jobs/compare.py --runs RUN1 RUN2 --storage-path s3://bucket/runs  # runs on object storage

The AUC, SRG and battery columns come from one evaluation of each run, the same protocol for all
(--evaluation ID, else the one the most runs share); the table says which (images, fill, seed).

Writes comparison.md, comparison.csv, drop_curves_<dataset>.png (mean accuracy-drop curves)
and saliency_maps_<dataset>.png (Grad saliency of one run per method) to --output-dir.
"""

from __future__ import annotations

from pathlib import Path

from .flags import JobFlags, command
from ..config import JobConfig
from ..foundations.errors import ConfigError
from ..foundations.files import StagedFolder
from ..foundations.home import output_dir
from ..runs.folder import folder_on_storage
from ..foundations.uris import is_remote

FLAGS = JobFlags("compare.py", __doc__, ("compare", ("tracking", "uri", "experiment"),
                                         ("run", "storage_path")))


def _folders(runs: list[str], storage_path: str | None) -> list[Path]:
    """--runs: folders, or with a remote --storage-path run names, fetched from there into this
    machine's cache."""
    if not is_remote(storage_path):
        return [Path(f) for f in runs]
    return [folder_on_storage(name, storage_path)[0].path for name in runs]


def compare(cfg: JobConfig) -> int:
    from ..reports.comparison_report import compare_and_report

    c = cfg.compare
    tags = {}
    for item in c.tags or []:
        if "=" not in item:
            raise ConfigError(f"--tag takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        tags[key] = value
    # a new (or empty) folder, filled under a temporary sibling: no file of yours is replaced
    staged = StagedFolder(Path(c.output_dir) if c.output_dir else output_dir("comparisons", fresh=True),
                          "--output-dir")
    with staged:
        compare_and_report(staged.staging,
                           folders=_folders(c.runs, cfg.run.storage_path) if c.runs else None,
                           run_ids=c.run_ids.split(",") if c.run_ids else None,
                           experiment=cfg.tracking.experiment, tags=tags,
                           tracking_uri=cfg.tracking.uri, auc_method=c.auc_method,
                           figure_images=c.figure_images, evaluation=c.evaluation)
        print(f"files: {staged.publish()}")
    return 0


main = command(FLAGS, compare)
