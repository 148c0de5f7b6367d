"""The paper's motivation experiment: how many test images get MORE confident when their
highest-gradient pixels are masked, before they get less (paper: 16% on CIFAR-10)?

  python jobs/motivation.py --run RUN_FOLDER_OR_ID         # a trained traditional model
  python jobs/motivation.py --dataset fashion_mnist --epochs 2   # train one first (in-process)

Writes motivation.json (the share and counts), curves.csv and motivation.png (typical curves of
both kinds) to --output-dir.
"""

from __future__ import annotations

from .flags import JobFlags, command
from ..config import JobConfig

FLAGS = JobFlags("motivation.py", __doc__,
                 ("motivation", ("data", "dataset", "train_subset", "test_subset"),
                  ("train", "epochs", "device"), ("tracking", "uri"), ("run", "progress")))


def motivation(cfg: JobConfig) -> int:
    from ..workflows.motivation import run_motivation

    result = run_motivation(cfg)
    n, share = result["num_images"], result["share_rise_then_fall"]
    print(f"{result['rise_then_fall']} of {n} test images ({100 * share:.1f}%) first gain, "
          f"then lose label probability as their highest-gradient pixels are masked "
          f"(paper: 16% on CIFAR-10)\nfiles: {result['output_dir']}")
    return 0


main = command(FLAGS, motivation)
