"""SMOOT in a plain PyTorch training loop of your own: no Ray, no MLflow, no smoot_dist Trainer.

    python examples/own_loop.py --epochs 1 --images 10000

Fashion-MNIST through torchvision (laid out by scripts/setup.sh, or jobs/prepare_data.py), a
small CNN and torch's Adadelta are the loop's own; smoot_dist.method gives the per-sample
masking fraction k, the step's loss, SMOOT's update of k and the K statistics (docs/api.md).
"""

import argparse
import os
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets, transforms

from smoot_dist.method import MaskState, MethodConfig, k_statistics, method_step, validate_method


class WithIndex(Dataset):
    """(index, image, label): SMOOT keeps one k per training sample, found by its index."""

    def __init__(self, data: Dataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        x, y = self.data[i]
        return i, x, y


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, batches, method: MethodConfig,
                state: MaskState) -> list[float]:
    """One pass over (index, x, y) batches with SGT or SMOOT; each step's cross-entropy."""
    model.train()
    ce = []
    for idx, x, y in batches:
        # the model twice: the step's own, and the plain one for the saliency pass (they differ
        # only under DDP, whose wrapper the saliency pass must bypass)
        out = method_step(method, model, model, x, y, state.get(idx))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        if out.new_k is not None:  # SMOOT: the batch's k after its update; SGT keeps k0
            state.set(idx, out.new_k)
        ce.append(float(out.ce))
    return ce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=("sgt", "smoot"), default="smoot")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=60000, help="the first N training images")
    parser.add_argument("--data-root", default=os.environ.get(
        "SMOOT_DATA_DIR", os.path.expanduser("~/.cache/smoot_dist/data")))
    args = parser.parse_args()
    to_input = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    try:
        train = datasets.FashionMNIST(args.data_root, train=True, transform=to_input)
    except RuntimeError:  # torchvision: "Dataset not found"
        print(f"error: no Fashion-MNIST under {args.data_root}; lay it out with "
              f"python jobs/prepare_data.py fashion_mnist", file=sys.stderr)
        sys.exit(2)
    loader = DataLoader(WithIndex(Subset(train, range(min(args.images, len(train))))),
                        batch_size=256, shuffle=True)
    method = MethodConfig(name=args.method)  # the paper's defaults: k0 0.5 in [0.2, 0.8] ...
    validate_method(method)
    state = MaskState.initial(len(loader.dataset), method.k0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 10))
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    for epoch in range(1, args.epochs + 1):
        ce = train_epoch(model, optimizer, loader, method, state)
        k = k_statistics(state.k, 28 * 28, method.k_min, method.k_max)
        print(f"epoch {epoch}/{args.epochs}  ce {sum(ce) / len(ce):.4f}  "
              f"K min/median/max {k['min']}/{k['median']:g}/{k['max']}  k_mean "
              f"{k['mean_fraction']:.3f}", flush=True)


if __name__ == "__main__":
    main()
