#!/usr/bin/env python
"""What a run on S3-compatible storage costs against the same run on a local folder: the main job
(README: SMOOT, all Fashion-MNIST training images, 2 epochs, 2 Ray Train workers, tracked in a
local MLflow store), once with `--storage-path` a local folder and once on an S3 server on
127.0.0.1 (moto, as the tests use; a real store adds the network), side by side in one run, each
in a fresh SMOOT_HOME: wall time, epoch times, and the ratio. Needs the cluster-test extra
(scripts/setup.sh installs it).

  python bench/storage.py                              # the main job's configuration (~10 min)
  python bench/storage.py --train-subset 4000 --epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.fs

from common import print_table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.helpers.s3_server import start_s3_server  # noqa: E402


def _train(home: Path, storage: str, env: dict[str, str], args: argparse.Namespace
           ) -> tuple[float, dict]:
    summary = home / "summary.json"
    cmd = [sys.executable, str(REPO / "jobs" / "train.py"), "--run-name", "bench",
           "--storage-path", storage, "--epochs", str(args.epochs), "--no-progress",
           "--summary-json", str(summary)]
    if args.train_subset:
        cmd += ["--train-subset", str(args.train_subset)]
    start = time.perf_counter()
    r = subprocess.run(cmd, env={**env, "SMOOT_HOME": str(home)}, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"train.py failed on {storage}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return wall, json.loads(summary.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=None, help="default: all images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smoot-bench-storage-") as tmp:
        tmp = Path(tmp)
        server = start_s3_server(tmp)
        try:
            server.make_bucket("bench")
            env = {**os.environ, **server.env}
            rows = []
            for label, storage in (("local folder", str(tmp / "local-runs")),
                                   ("S3 (moto, 127.0.0.1)", server.uri("bench", "runs"))):
                home = tmp / label.split()[0].lower()
                home.mkdir()
                wall, summary = _train(home, storage, env, args)
                epochs = [e["epoch_time_s"] for e in summary["epochs"]]
                rows.append([label, wall, summary["wall_time_s"],
                             " / ".join(f"{t:.1f}" for t in epochs)])
                print(f"{label}: {wall:.1f} s", flush=True)
            # what the run left at the storage path: the object keys of one run, with sizes
            # (from the listing: the objects themselves are not downloaded)
            where = "bench/runs/bench"
            keys = {i.path[len(where) + 1:]: i.size for i in server.filesystem().get_file_info(
                pyarrow.fs.FileSelector(where, recursive=True))
                if i.type == pyarrow.fs.FileType.File}
        finally:
            server.stop()
    print()
    print_table(["storage", "command wall s", "run wall s", "epoch times s"], rows)
    print(f"\nS3 / local, the command's wall time: {rows[1][1] / rows[0][1]:.3f}x; the run's "
          f"(summary wall_time_s): {rows[1][2] / rows[0][2]:.3f}x")
    print("\nthe run's objects under s3://bench/runs/bench/:")
    print_table(["key", "bytes"], [[key, f"{size:,}"] for key, size in sorted(keys.items())])


if __name__ == "__main__":
    main()
