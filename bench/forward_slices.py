#!/usr/bin/env python
"""The evaluation's big forwards, whole against a slice at a time (models/inference.py): images
per second of the papers' CNN over one 5,000-image batch (the MoRF curve's ten fractions of a
500-image batch), in eval mode without gradients, for each slice size, side by side in one run,
with the ratio to the whole batch and whether the logits are bit-identical.

  python bench/forward_slices.py                 # torch's threads
  OMP_NUM_THREADS=1 python bench/forward_slices.py --threads 1
"""

from __future__ import annotations

import argparse

from common import print_table, time_ms

import torch  # noqa: E402

from smoot_dist.models.cnn import MnistCNN  # noqa: E402
from smoot_dist.models.inference import forward_in_slices  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--slices", default="5000,1000,500,256,128,64,32",
                        help="slice sizes to time, comma-separated")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=5, help="timed calls per slice size")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.randn(args.images, 1, 28, 28)
    device = torch.device("cpu")
    with torch.no_grad():
        whole = model(x)
        whole_ms = time_ms(lambda: model(x), args.steps, device, warmup=1)
        rows = []
        for size in (int(s) for s in args.slices.split(",")):
            ms = time_ms(lambda: forward_in_slices(model, x, size), args.steps, device, warmup=1)
            same = torch.equal(forward_in_slices(model, x, size), whole)
            rows.append([size, round(1000 * args.images / ms), whole_ms / ms,
                         "yes" if same else "no"])
    print(f"{args.images} images, {torch.get_num_threads()} thread(s), median of {args.steps} "
          f"calls; whole batch: {1000 * args.images / whole_ms:.0f} images/s")
    print_table(["slice", "images/s", "speed-up vs whole", "bit-identical"], rows)


if __name__ == "__main__":
    main()
