"""Images/s of the streaming data path (Ray Data, each worker reading its own Parquet shard files)
vs the in-memory path (each worker holding the train split whole), on the same Parquet shards,
with 2 Ray workers of 1 CPU each, side by side in one run: the data path alone (batches made as
an epoch takes them, nothing trained), then SMOOT training through jobs/train.py with each.

    python bench/data.py                       # builds shards of Fashion-MNIST PNGs first
    python bench/data.py --dataset parquet:PATH --rows-per-shard ...

Data alone, per worker: memory = load the split (once) + gather an epoch's batches; stream = an
epoch through Ray Data (read, PNG decode, shuffle buffer, planned batches), the first epoch
(start-up) and a second one timed apart. Training: the second epoch's training time of a 2-epoch
run. The headline ratio is the training one (stream / memory images/s): whether streaming slows
training down; the data-alone rows say how much headroom the stream has.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (the jobs' bootstrap)

REPO = Path(__file__).resolve().parents[1]


def _make_shards(root: Path, per_class: int, rows_per_shard: int) -> str:
    sys.path.insert(0, str(REPO))
    from tests.helpers.image_tree import write_fashion_tree  # real images through the real code

    from smoot_dist.data.image_folder import scan
    from smoot_dist.data.parquet_shards import write_dataset

    tree = write_fashion_tree(root / "tree", per_class, 50)
    write_dataset(scan(str(tree), 0.1, 0), str(root / "shards"), None, None, rows_per_shard, jobs=2)
    return f"parquet:{root / 'shards'}"


def _worker(path: str, dataset: str, rank: int, world: int, batch: int) -> dict:
    import torch

    from smoot_dist.config import build_config
    from smoot_dist.data.loading import load_splits
    from smoot_dist.launch.ray_data_stream import StreamBatches
    from smoot_dist.training.batches import MemoryBatches

    torch.set_num_threads(1)
    cfg = build_config(overrides={"data": {"dataset": dataset, "loader": path},
                                  "train": {"batch_size": batch}, "run": {"workers": world}})
    start = time.perf_counter()
    if path == "memory":
        source = MemoryBatches(load_splits(cfg.data).train, rank, world, batch, 0)
    else:
        source = StreamBatches(cfg, rank, world, torch.device("cpu"))
    setup = time.perf_counter() - start
    times, rows = [], 0
    for epoch in (0, 1):
        start, rows = time.perf_counter(), 0
        for idx, images, labels in source.epoch(epoch):
            images.float()  # the Trainer's first touch of the pixels
            rows += idx.numel()
        times.append(time.perf_counter() - start)
    return {"setup_s": setup, "first_s": times[0], "steady_s": times[1], "rows": rows}


def _train(dataset: str, loader: str, root: Path) -> dict:
    import json
    import subprocess

    summary = root / f"{loader}.json"
    subprocess.run([sys.executable, str(REPO / "jobs/train.py"), "--dataset", dataset,
                    "--data-loader", loader, "--workers", "2", "--epochs", "2", "--no-tracking",
                    "--no-progress", "--storage-path", str(root / "runs"), "--summary-json",
                    str(summary)], check=True, capture_output=True, cwd=str(REPO))
    return json.loads(summary.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="parquet:PATH (default: build Fashion-MNIST shards)")
    parser.add_argument("--per-class", type=int, default=1000, help="images per class to build")
    parser.add_argument("--rows-per-shard", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    from smoot_dist.launch.ray_cluster import connect

    world = 2
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset or _make_shards(Path(tmp), args.per_class, args.rows_per_shard)
        print(f"data: {dataset}; {world} Ray workers of 1 CPU; Ray: {connect(None, cpus=world + 1)}")
        import ray

        worker = ray.remote(num_cpus=1)(_worker)
        rows = []
        for path in ("memory", "stream"):
            results = ray.get([worker.remote(path, dataset, r, world, args.batch_size)
                               for r in range(world)])
            n = sum(r["rows"] for r in results)
            setup = max(r["setup_s"] for r in results)
            first, steady = (max(r[k] for r in results) for k in ("first_s", "steady_s"))
            rows.append([path, n, setup, first, steady, n / steady])
        ray.shutdown()  # each training run starts its own local Ray
        trained = []
        for path in ("memory", "stream"):
            summary = _train(dataset, path, Path(tmp))
            second = summary["epochs"][1]
            trained.append([path, summary["num_train"], second["train_time_s"],
                            summary["num_train"] / second["train_time_s"], summary["test_accuracy"]])
    from common import print_table

    print("\ndata path alone (no training):")
    print_table(["path", "images/epoch", "setup s", "epoch 1 s", "epoch 2 s", "images/s"], rows)
    print("\nSMOOT training, 2 epochs (jobs/train.py --workers 2), the second epoch:")
    print_table(["path", "images/epoch", "train s", "images/s", "test accuracy"], trained)
    print(f"\nstream / memory training images/s: {trained[1][3] / trained[0][3]:.3f}; the stream "
          f"alone delivers {rows[1][5]:.0f} images/s, {rows[1][5] / trained[0][3]:.1f}x what "
          f"training takes; memory's setup (the split decoded whole in every worker) "
          f"{rows[0][2]:.1f} s, streaming's {rows[1][2]:.2f} s")


if __name__ == "__main__":
    main()
