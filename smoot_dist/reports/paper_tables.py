"""The paper's own numbers (Karkehabadi et al., "SMOOT: Saliency Guided Mask Optimized Online
Training", Tables 2-5), to print beside ours. One run each in the paper, 100 epochs, all 60k
(50k for CIFAR) training images, 10k test images; AUC: Grad accuracy-drop AUC, MoRF, lower is
better (the CIFAR tables have none)."""

from __future__ import annotations

PAPER_TABLES = {
    "mnist": ("Table 2", {
        "traditional": {"k": (0, 0, 0), "accuracy": 99.40, "auc": 36.35},
        "sgt": {"k": (392, 392, 392), "accuracy": 99.35, "auc": 34.67},
        "smoot": {"k": (234, 388, 544), "accuracy": 99.40, "auc": 33.16},
    }),
    "fashion_mnist": ("Table 3", {
        "traditional": {"k": (0, 0, 0), "accuracy": 93.60, "auc": 40.79},
        "sgt": {"k": (392, 392, 392), "accuracy": 93.35, "auc": 39.91},
        "smoot": {"k": (223, 372, 576), "accuracy": 93.65, "auc": 36.18},
    }),
    "cifar10": ("Table 4", {
        "traditional": {"k": (0, 0, 0), "accuracy": 95.65, "auc": None},
        "sgt": {"k": (512, 512, 512), "accuracy": 96.05, "auc": None},
        "smoot": {"k": (204, 488, 753), "accuracy": 96.35, "auc": None},
    }),
    "cifar100": ("Table 5", {
        "traditional": {"k": (0, 0, 0), "accuracy": 75.75, "auc": None},
        "sgt": {"k": (512, 512, 512), "accuracy": 78.10, "auc": None},
        "smoot": {"k": (362, 432, 682), "accuracy": 79.65, "auc": None},
    }),
}
