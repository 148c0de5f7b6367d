import numpy as np
import pytest
import torch
from torch import nn

from smoot_dist.metrics.faithfulness.morf import FRACTIONS, auc, correct_after_removal, removal_masks


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


def test_lerf_removes_exactly_the_lowest_ranked_pixels():
    from smoot_dist.metrics.faithfulness.morf import removal_masks

    attribution = torch.tensor([[0.5, -1.0, 3.0, 0.0, 2.0, -0.5, 1.0, 0.25, 0.75, 1.5]])
    lerf = removal_masks(attribution, (0.0, 0.3, 0.5), order="lerf")
    morf = removal_masks(attribution, (0.0, 0.3, 0.5), order="morf")
    assert lerf[0].sum() == 0 and morf[0].sum() == 0
    assert lerf[1, 0].nonzero().flatten().tolist() == [1, 3, 5]  # -1.0, 0.0, -0.5
    assert lerf[2, 0].nonzero().flatten().tolist() == [0, 1, 3, 5, 7]
    assert morf[1, 0].nonzero().flatten().tolist() == [2, 4, 9]  # 3.0, 2.0, 1.5


def test_srg_on_hand_made_curves():
    from smoot_dist.metrics.faithfulness.drop import DropCurves
    from smoot_dist.metrics.faithfulness.morf import FRACTIONS, auc, srg

    morf = [100.0 - 10 * i for i in range(10)]  # falls from 100 to 10
    lerf = [100.0] * 10  # never falls
    assert auc(lerf) == pytest.approx(90.0)
    assert auc(morf) == pytest.approx(0.9 * (100 + 10) / 2)  # a straight line: its mean times 0.9
    assert srg(auc(lerf), auc(morf)) == pytest.approx(90.0 - 49.5)
    curves = DropCurves(FRACTIONS, {"grad": morf}, 10, lerf={"grad": lerf})
    assert curves.srg == {"grad": pytest.approx(40.5)}
    assert "Grad | LeRF | 90.00 | 40.50" in curves.table()


def test_curves_with_both_orders_round_trip_through_csv(tmp_path):
    from smoot_dist.metrics.faithfulness.drop import DropCurves
    from smoot_dist.metrics.faithfulness.morf import FRACTIONS

    curves = DropCurves(FRACTIONS, {"grad": [90.0] * 10}, 5, lerf={"grad": [95.0] * 10})
    back = DropCurves.read_csv(curves.write_csv(tmp_path / "c.csv"))
    assert back.accuracy == curves.accuracy and back.lerf == curves.lerf


def test_removal_fills():
    from smoot_dist.metrics.faithfulness.morf import remove_pixels

    x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    attribution = -torch.arange(16, dtype=torch.float32).view(1, 16)  # pixel 0 most relevant
    background = remove_pixels(x, attribution, (0.25,), "morf", "background")
    mean = remove_pixels(x, attribution, (0.25,), "morf", "mean")
    road = remove_pixels(x, attribution, (0.25,), "morf", "road")
    assert background.view(-1)[:4].tolist() == [0.0] * 4 and mean.view(-1)[:4].tolist() == [7.5] * 4
    assert torch.equal(road.view(-1)[4:], x.view(-1)[4:])  # kept pixels unchanged
    # the top row, imputed from the kept row below it (4..7): within its range, rising with it
    top = road.view(-1)[:4]
    assert 4 <= top.min() and top.max() <= 7 and bool((top.diff() > 0).all())


def test_the_logprob_saliency_target_differentiates_the_labels_log_probability():
    from smoot_dist.attribution.methods import make_attributor, saliency_model

    torch.manual_seed(0)
    linear = nn.Linear(4, 3)
    model = nn.Sequential(nn.Flatten(), linear)
    x = torch.randn(5, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 1, 0])
    p = torch.softmax(model(x), 1).detach()
    w = linear.weight.detach()
    # d log p_y / dx = W_y - sum_j p_j W_j; d logit_y / dx = W_y (Grad reports |gradient|)
    want_logprob = (w[y] - p @ w).abs()
    want_logit = w[y].abs()
    got_logprob = make_attributor("grad", saliency_model(model, "logprob"))(x, y).view(5, 4)
    got_logit = make_attributor("grad", saliency_model(model, "logit"))(x, y).view(5, 4)
    assert torch.allclose(got_logprob, want_logprob, atol=1e-6)
    assert torch.allclose(got_logit, want_logit, atol=1e-6)
    # over more images than a CPU slice (models/inference.py): each image keeps its own gradient
    many_x, many_y = torch.randn(300, 1, 2, 2), torch.arange(300) % 3
    got = make_attributor("grad", saliency_model(model, "logit"))(many_x, many_y)
    assert torch.allclose(got, w[many_y].abs(), atol=1e-6)
