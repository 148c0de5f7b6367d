"""The evaluation battery's metrics on tiny tensors: hand-computed cases, properties, and
agreement with plain reference implementations (scipy) and with Captum's own metrics."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from smoot_dist.metrics.model_robustness import pgd_correct
from smoot_dist.metrics.complexity import complexity, sparseness
from smoot_dist.metrics.localisation import (object_masks, object_share, pointing_game,
                                                relevance_mass, relevance_rank)
from smoot_dist.metrics.robustness import infidelity, max_sensitivity
from smoot_dist.metrics.randomisation.sanity import (model_parameter_randomisation, other_classes,
                                          random_logit, randomisation_order)
from smoot_dist.metrics.randomisation.similarity import average_ranks, spearman, ssim
from smoot_dist.config import ModelConfig
from smoot_dist.models.registry import create_model
from smoot_dist.foundations.catalog import DATASETS


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- complexity --------------------------------------------------------------------------------
def test_gini_of_one_pixel_constant_and_zero_maps():
    n = 10
    one_hot = torch.zeros(1, n)
    one_hot[0, 3] = 5.0
    assert sparseness(one_hot).item() == pytest.approx(1 - 1 / n)
    assert sparseness(torch.full((1, n), 2.0)).item() == pytest.approx(0.0, abs=1e-7)
    assert sparseness(torch.zeros(1, n)).item() == 0.0


def test_gini_agrees_with_the_mean_absolute_difference_definition():
    a = torch.rand(4, 50, generator=_gen())
    for row, g in zip(a.numpy(), sparseness(a).numpy()):
        # G = sum_ij |x_i - x_j| / (2 n^2 mean): the textbook form of the same index
        mad = np.abs(row[:, None] - row[None, :]).sum()
        assert g == pytest.approx(mad / (2 * len(row) ** 2 * row.mean()), rel=1e-5)


def test_complexity_is_the_entropy_of_the_normalised_map():
    n = 16
    assert complexity(torch.ones(1, n)).item() == pytest.approx(math.log(n))
    one_hot = torch.zeros(1, n)
    one_hot[0, 0] = 1
    assert complexity(one_hot).item() == pytest.approx(0.0, abs=1e-7)
    a = torch.rand(3, 40, generator=_gen(1))
    assert complexity(-a).numpy() == pytest.approx([stats.entropy(r) for r in a.numpy()], rel=1e-5)


# -- localisation ------------------------------------------------------------------------------
def test_object_masks_are_the_pixels_above_the_images_background():
    image = torch.zeros(1, 1, 2, 3, dtype=torch.uint8)
    image[0, 0, 0, 1], image[0, 0, 1, 2] = 200, 1
    assert object_masks(image).tolist() == [[False, True, False, False, False, True]]
    grey = torch.full((1, 3, 1, 2), 7, dtype=torch.uint8)
    grey[0, :, 0, 1] = torch.tensor([9, 7, 7], dtype=torch.uint8)  # brighter in one channel
    assert object_masks(grey).tolist() == [[False, True]]


def test_relevance_mass_rank_and_pointing_on_crafted_maps():
    mask = torch.tensor([[True, True, False, False]])
    inside = torch.tensor([[0.5, 0.2, 0.0, 0.0]])
    assert relevance_mass(inside, mask).item() == 1.0
    assert relevance_rank(inside, mask).item() == 1.0
    assert pointing_game(inside, mask).item() == 1.0
    half = torch.tensor([[0.9, 0.0, 0.1, 0.0]])  # top-2: pixel 0 (in), pixel 2 (out)
    assert relevance_mass(half, mask).item() == pytest.approx(0.9)
    assert relevance_rank(half, mask).item() == 0.5
    off = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    assert pointing_game(off, mask).item() == 0.0
    assert relevance_rank(off, mask).item() == 0.0
    assert relevance_mass(off, mask).item() == pytest.approx(0.3)
    assert object_share(mask).item() == 0.5


def test_a_random_attribution_scores_the_object_share_on_mass_and_rank():
    gen = _gen(2)
    mask = torch.rand(2000, 100, generator=gen) < 0.3
    a = torch.rand(2000, 100, generator=gen)
    share = object_share(mask).mean().item()
    # means over 2,000 images: within about 4 standard errors of the share
    assert relevance_mass(a, mask).mean().item() == pytest.approx(share, abs=0.01)
    assert relevance_rank(a, mask).mean().item() == pytest.approx(share, abs=0.01)
    assert pointing_game(a, mask).mean().item() == pytest.approx(share, abs=0.045)


# -- similarity --------------------------------------------------------------------------------
def test_spearman_agrees_with_scipy_ties_included():
    gen = _gen(3)
    a = torch.randint(0, 5, (6, 30), generator=gen).float()  # many ties
    b = a + torch.rand(6, 30, generator=gen) * 3
    ours = spearman(a, b).numpy()
    assert ours == pytest.approx([stats.spearmanr(x, y)[0] for x, y in zip(a.numpy(), b.numpy())],
                                 abs=1e-6)
    assert average_ranks(torch.tensor([[10.0, 20.0, 10.0]])).tolist() == [[1.5, 3.0, 1.5]]
    assert spearman(a, a).numpy() == pytest.approx(1.0)
    assert spearman(a, -a).numpy() == pytest.approx(-1.0)


def _ssim_reference(x: np.ndarray, y: np.ndarray, win: int = 7) -> float:
    """scikit-image's structural_similarity (uniform window, sample covariance, cropped mean),
    written out window by window."""
    data_range = max(x.max(), y.max()) - min(x.min(), y.min())
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(x.shape[0] - win + 1):
        for j in range(x.shape[1] - win + 1):
            p, q = x[i:i + win, j:j + win].ravel(), y[i:i + win, j:j + win].ravel()
            vx, vy = p.var(ddof=1), q.var(ddof=1)
            cov = ((p - p.mean()) * (q - q.mean())).sum() / (len(p) - 1)
            values.append((2 * p.mean() * q.mean() + c1) * (2 * cov + c2)
                          / ((p.mean() ** 2 + q.mean() ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_agrees_with_a_window_by_window_reference():
    gen = _gen(4)
    x = torch.rand(3, 12, 10, generator=gen, dtype=torch.float64)
    y = x + 0.3 * torch.rand(3, 12, 10, generator=gen, dtype=torch.float64)
    ours = ssim(x, y).numpy()
    assert ours == pytest.approx([_ssim_reference(a, b) for a, b in zip(x.numpy(), y.numpy())],
                                 rel=1e-5)
    assert ssim(x, x).numpy() == pytest.approx(1.0)
    assert ssim(torch.ones(1, 8, 8), torch.ones(1, 8, 8)).item() == 1.0


# -- sanity ------------------------------------------------------------------------------------
def _gradient(model):
    def attribute(x, y):
        with torch.enable_grad():  # Captum's metrics call explanations under no_grad
            x = x.clone().requires_grad_(True)
            out = model(x).gather(1, y.view(-1, 1)).sum()
            grad, = torch.autograd.grad(out, x)
        return grad.abs().mean(dim=1).flatten(1)
    return attribute


def test_mprt_randomises_from_the_output_down_and_starts_at_one():
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="cnn"), DATASETS["mnist"]).eval()
    order = randomisation_order(model)
    assert order == ["fc2", "fc1", "conv2", "conv1"]  # the output layer first
    x = torch.randn(4, 1, 28, 28, generator=_gen(5))
    y = torch.tensor([0, 1, 2, 3])
    curves = model_parameter_randomisation(model, _gradient, x, y, seed=1)
    assert curves.layers == order and curves.spearman.shape == (len(order) + 1, 4)
    assert torch.equal(curves.spearman[0], torch.ones(4)) and torch.equal(curves.ssim[0], torch.ones(4))
    again = model_parameter_randomisation(model, _gradient, x, y, seed=1)
    assert torch.equal(again.spearman, curves.spearman)  # seeded: the same weights each time
    assert not torch.equal(curves.spearman[-1], curves.spearman[0])
    # the model given is left as it was
    fresh = model_parameter_randomisation(model, _gradient, x, y, seed=1)
    assert torch.equal(fresh.ssim, curves.ssim)


def test_random_logit_draws_another_class_and_is_one_when_the_class_does_not_matter():
    y = torch.arange(10).repeat(50)
    other = other_classes(y, 10, _gen(6))
    assert not (other == y).any() and set(other.tolist()) == set(range(10))
    same_weights = nn.Linear(16, 3)
    with torch.no_grad():
        same_weights.weight[:] = same_weights.weight[0]  # every class the same: one gradient
    model = nn.Sequential(nn.Flatten(), same_weights)
    x = torch.randn(5, 1, 4, 4, generator=_gen(7))
    assert random_logit(_gradient(model), x, torch.zeros(5, dtype=torch.long), 3,
                        _gen(8)).numpy() == pytest.approx(1.0)


def _one(inputs):
    """Captum hands its callbacks a tuple of inputs."""
    return inputs[0] if isinstance(inputs, tuple) else inputs


# -- robustness --------------------------------------------------------------------------------
def test_max_sensitivity_of_a_linear_models_gradient_is_zero():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.randn(6, 1, 4, 4, generator=_gen(9))
    y = torch.randint(0, 3, (6,), generator=_gen(10))
    assert max_sensitivity(_gradient(model), x, y, _gen(11)).numpy() == pytest.approx(0.0, abs=1e-6)


def test_max_sensitivity_and_infidelity_agree_with_captum_on_the_same_noise():
    from captum.metrics import infidelity as captum_infidelity
    from captum.metrics import sensitivity_max

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 25, 4)).eval()
    x = torch.randn(5, 2, 5, 5, generator=_gen(12))
    y = torch.randint(0, 4, (5,), generator=_gen(13))
    attribute = _gradient(model)
    samples = 6

    ours = max_sensitivity(attribute, x, y, _gen(14), radius=0.05, samples=samples, rows=7)
    noise = torch.rand((samples, *x.shape), generator=_gen(14)) * 0.1 - 0.05
    interleaved = noise.transpose(0, 1).flatten(0, 1)  # Captum repeats each example N times
    theirs = sensitivity_max(lambda inputs, target: (attribute(_one(inputs), target),), x, target=y,
                             perturb_func=lambda inputs, perturb_radius: _one(inputs) + interleaved,
                             n_perturb_samples=samples)
    assert ours.numpy() == pytest.approx(theirs.numpy(), rel=1e-5)

    a = attribute(x, y)
    ours = infidelity(model, a, x, y, _gen(15), std=0.2, samples=samples, rows=4)
    gauss = (torch.randn((samples, *x.shape), generator=_gen(15)) * 0.2).transpose(0, 1).flatten(0, 1)
    theirs = captum_infidelity(model, lambda inputs: (gauss, _one(inputs) - gauss), x,
                               a.view(5, 1, 5, 5).expand(5, 2, 5, 5), target=y,
                               n_perturb_samples=samples, normalize=True)
    assert ours.numpy() == pytest.approx(theirs.numpy(), rel=1e-4, abs=1e-7)


# -- the model's robustness --------------------------------------------------------------------
def test_pgd_at_eps_zero_is_clean_accuracy_and_an_attack_never_helps():
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="cnn"), DATASETS["mnist"]).eval()
    pixels = torch.rand(16, 1, 28, 28, generator=_gen(16))
    to_input = lambda p: (p - 0.1307) / 0.3081  # noqa: E731
    with torch.no_grad():
        y = model(to_input(pixels)).argmax(dim=1)  # every image right before the attack
    assert pgd_correct(model, pixels, y, to_input, 0.0, _gen(17)).all()
    attacked = pgd_correct(model, pixels, y, to_input, 0.3, _gen(17), steps=10)
    assert attacked.sum() < len(y)  # an untrained CNN's decisions move at eps 0.3
    again = pgd_correct(model, pixels, y, to_input, 0.3, _gen(17), steps=10)
    assert torch.equal(attacked, again)


# -- the battery over batches ------------------------------------------------------------------
def test_the_battery_sums_are_the_same_however_the_batches_are_dealt():
    """0 workers vs 2: each process sums its own batches; added up, the numbers are identical,
    because every draw is seeded per batch (and MPRT's weights per step). The images carry
    decoy patches and views (data/decoy.py), so every metric runs, the shortcut's included."""
    from smoot_dist.data.decoy import decoy_test
    from smoot_dist.data.loading import ImageTensors
    from smoot_dist.metrics import battery_metrics
    from smoot_dist.evaluation.battery import BatteryOptions, battery_sums, means

    torch.manual_seed(0)
    spec = DATASETS["mnist"]
    model = create_model(ModelConfig(name="cnn"), spec).eval()
    gen = _gen(20)
    images = (torch.rand(24, 1, 28, 28, generator=gen) > 0.7).to(torch.uint8) * 200
    labels = torch.randint(0, 10, (24,), generator=gen)
    patched, decoy = decoy_test(images, labels, 10, seed=3)
    data = ImageTensors(patched, labels, decoy)
    options = BatteryOptions(sensitivity_samples=3, infidelity_samples=3, pgd_steps=2)
    run = dict(device=torch.device("cpu"), batch_size=8, seed=4, options=options)
    whole = battery_sums(model, data, spec, ["grad", "random"], list(battery_metrics()), **run)
    first = battery_sums(model, data, spec, ["grad", "random"], list(battery_metrics()), starts=[0, 16], **run)
    second = battery_sums(model, data, spec, ["grad", "random"], list(battery_metrics()), starts=[8], **run)
    assert set(whole) == set(first) == set(second)
    for key in whole:
        assert torch.allclose(whole[key], first[key] + second[key], rtol=1e-12, atol=0), key
    values = means(whole)
    assert values["mprt_spearman_grad"][0] == 1.0 and len(values["mprt_spearman_grad"]) == 5
    assert {"relevance_mass_grad", "relevance_rank_random", "pointing_game_grad", "object_share",
            "random_logit_grad", "max_sensitivity_random", "infidelity_grad", "sparseness_grad",
            "complexity_random", "pgd_accuracy", "shortcut_gap", "decoy_share_grad",
            "decoy_area"} <= set(values)
    assert 0 <= values["pgd_accuracy"] <= 1
    # Random's mass lands on the object in proportion to its share (24 images: loosely)
    assert values["relevance_mass_random"] == pytest.approx(values["object_share"], abs=0.03)


def test_an_unknown_metric_is_one_line():
    from smoot_dist.foundations.errors import ConfigError
    from smoot_dist.evaluation.battery import check_metrics

    with pytest.raises(ConfigError, match=r"unknown metric\(s\) mprt2; choose from: mprt, "):
        check_metrics(["mprt", "mprt2"])


def test_agreement_with_quantus_on_the_metrics_of_a_finished_map():
    """Quantus (an optional reference, skipped where it is not installed) on the same maps."""
    quantus = pytest.importorskip("quantus")
    gen = _gen(30)
    n, side = 6, 8
    a = torch.rand(n, 1, side, side, generator=gen, dtype=torch.float64)
    x = torch.rand(n, 1, side, side, generator=gen).numpy()
    y = np.zeros(n, dtype=int)
    mask = torch.rand(n, 1, side, side, generator=gen) < 0.4
    model = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 2))
    common = dict(model=model, x_batch=x, y_batch=y, a_batch=a.numpy(), device="cpu")
    options = dict(disable_warnings=True, display_progressbar=False)
    flat = a.flatten(1)
    theirs = quantus.Sparseness(abs=True, normalise=False, **options)(**common)
    assert sparseness(flat).numpy() == pytest.approx(theirs, abs=1e-5)
    theirs = quantus.Complexity(abs=True, normalise=False, **options)(**common)
    assert complexity(flat).numpy() == pytest.approx(theirs, rel=1e-5)
    theirs = quantus.RelevanceMassAccuracy(abs=True, normalise=False, **options)(
        **common, s_batch=mask.numpy().astype(np.float32))
    assert relevance_mass(flat, mask.flatten(1)).numpy() == pytest.approx(theirs, rel=1e-5)
