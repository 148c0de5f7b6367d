"""Run as a script: stream two epochs of each rank's batches through the real Ray Data path
(launch/ray_data_stream.py) on the Ray cluster at $RAY_ADDRESS, and print, as JSON, the global
indices each rank got, batch by batch. No training: what is checked is the stream itself.

    python tests/helpers/stream_visits.py DATASET WORLD_SIZE GLOBAL_BATCH
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import ray  # noqa: E402
import torch  # noqa: E402

from smoot_dist.config import build_config  # noqa: E402
from smoot_dist.launch.ray_data_stream import StreamBatches  # noqa: E402


def main() -> None:
    dataset, world, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ray.init(logging_level="WARNING")
    cfg = build_config(overrides={"data": {"dataset": dataset, "loader": "stream", "data_cpus": 1},
                                  "train": {"batch_size": batch}, "run": {"workers": world}})
    out = {"steps": {}, "epochs": {}, "block": None, "num_samples": None}
    for rank in range(world):
        stream = StreamBatches(cfg, rank, world, torch.device("cpu"))
        out["block"], out["num_samples"] = stream.block, stream.num_samples
        out["steps"][rank] = stream.steps()
        for epoch in (0, 1):
            batches = [(idx.tolist(), images.shape[1:], images.dtype, labels.tolist())
                       for idx, images, labels in stream.epoch(epoch)]
            out["epochs"][f"{rank}/{epoch}"] = {
                "batches": [b[0] for b in batches], "labels": [b[3] for b in batches],
                "shapes": sorted({str(tuple(b[1])) for b in batches}),
                "dtypes": sorted({str(b[2]) for b in batches})}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
