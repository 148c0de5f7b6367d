import numpy as np
import pytest
import torch
from torch import nn

from smoot_dist.evaluation.morf import FRACTIONS, auc, correct_after_removal, removal_masks


def test_auc_of_hand_made_curves():
    assert auc([100.0] * 10) == pytest.approx(90.0)  # flat 100% scores 90
    assert auc([100.0 - 100.0 * d for d in FRACTIONS]) == pytest.approx(90.0 - 0.5 * 100 * 0.81)
    assert auc([100.0] + [0.0] * 9) == pytest.approx(5.0)  # all lost after the first step
    assert auc([50.0] * 10) == pytest.approx(45.0)


def test_removal_masks_take_exactly_the_most_salient_pixels():
    torch.manual_seed(0)
    attribution = torch.rand(5, 784)
    masks = removal_masks(attribution)
    for f, d in enumerate(FRACTIONS):
        count = round(d * 784)
        assert masks[f].sum(1).tolist() == [count] * 5
        for i in range(5):
            top = set(np.argsort(-attribution[i].numpy(), kind="stable")[:count].tolist())
            assert set(torch.nonzero(masks[f, i]).flatten().tolist()) == top


class _Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        return torch.zeros(x.shape[0], 2)


def test_removed_pixels_get_the_background_and_the_rest_is_untouched():
    torch.manual_seed(1)
    b, c, h, w = 3, 2, 4, 4
    x = torch.rand(b, c, h, w) + 1.0
    x[:, :, 0, 0] = 0.0  # each image's minimum, the background
    attribution = torch.rand(b, h * w)
    attribution[:, 0] = -1.0  # the background pixel is the least salient
    model = _Recorder()
    y = torch.zeros(b, dtype=torch.long)
    correct = correct_after_removal(model, x, y, attribution)
    assert correct.tolist() == [b] * len(FRACTIONS)  # the recorder always says class 0
    seen = model.seen.view(len(FRACTIONS), b, c, h, w)
    masks = removal_masks(attribution).view(len(FRACTIONS), b, 1, h, w).expand_as(seen)
    assert torch.equal(seen[masks], torch.zeros(int(masks.sum())))
    original = x.unsqueeze(0).expand_as(seen)
    assert torch.equal(seen[~masks], original[~masks])
