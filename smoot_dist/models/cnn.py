"""The CNN of the SGT and SMOOT papers (their MNIST and Fashion-MNIST model)."""

from __future__ import annotations

import torch
from torch import nn

from ..foundations.errors import ConfigError
from .layers import UniformDropout


class MnistCNN(nn.Module):
    """conv(c->32,3) relu, conv(32->64,3) relu, maxpool 2, dropout .25, fc ->128 relu,
    dropout .5, fc 128->classes: the CNN of the SGT and SMOOT papers (9216 inputs to fc1 at 28x28)."""

    def __init__(self, in_chans: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = UniformDropout(0.25)
        self.dropout2 = UniformDropout(0.5)
        side = (image_size - 4) // 2
        if side < 1:
            raise ConfigError(f"the cnn needs images of at least 6x6 pixels, got {image_size}x{image_size}")
        self.fc1 = nn.Linear(64 * side * side, 128)
        self.fc2 = nn.Linear(128, num_classes)
        # Non-linearities as modules, one per use: DeepLift (Captum) rewrites the gradients of
        # nn.ReLU/nn.MaxPool2d modules and cannot see functional calls or a shared module.
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.dropout1(self.pool(x))
        x = self.dropout2(self.relu3(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)
