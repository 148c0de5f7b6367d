"""`--precision auto` (training/precision.py): bf16 exactly where torch reports native bf16
(AVX512_BF16 or AMX on a CPU, compute capability 8.0+ on a GPU), fp32 elsewhere; an explicit
precision is kept; a Trainer resolves `auto` itself; a run continued with `auto` keeps the
precision it recorded; evaluation is fp32 whatever the run trained in."""

import pytest
import torch

from smoot_dist.config import build_config
from smoot_dist.runs.folder import _first_difference
from smoot_dist.training import precision
from smoot_dist.training.precision import native_bf16, resolve_precision
from smoot_dist.training.trainer import Trainer

CPU = torch.device("cpu")


@pytest.mark.parametrize("avx512_bf16, amx, expected", [
    (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16"), (False, False, "fp32")])
def test_auto_on_a_cpu_follows_what_torch_reports(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    chosen, why = resolve_precision("auto", CPU)
    assert chosen == expected
    assert ("AVX512_BF16" in why) == avx512_bf16 or expected == "fp32"
    assert ("without" in why) == (expected == "fp32")


def test_a_torch_without_the_probes_gets_fp32(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert resolve_precision("auto", CPU)[0] == "fp32"


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp32"), ((8, 0), "bf16"),
                                                  ((9, 0), "bf16"), ((7, 0), "fp32")])
def test_auto_on_a_gpu_needs_compute_capability_8(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a GPU")
    chosen, why = resolve_precision("auto", torch.device("cuda"))
    assert chosen == expected and f"{capability[0]}.{capability[1]}" in why


@pytest.mark.parametrize("name", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept_whatever_the_device(monkeypatch, name):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: name == "fp32")
    assert resolve_precision(name, CPU) == (name, "asked for")


def test_this_machine_as_torch_sees_it():
    """No fixed answer: the same probes, read here without a monkeypatch."""
    native, _ = native_bf16(CPU)
    expected = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert native == expected
    assert precision.resolve_precision("auto", CPU)[0] == ("bf16" if expected else "fp32")


@pytest.mark.parametrize("native", [True, False])
def test_a_trainer_resolves_auto_and_evaluates_in_fp32(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    cfg = build_config(overrides={
        "data": {"dataset": "mnist", "train_subset": 64, "test_subset": 50},
        "train": {"epochs": 1, "device": "cpu", "precision": "auto", "batch_size": 32}})
    trainer = Trainer(cfg, progress=False, log=lambda s: None)
    assert trainer.precision == ("bf16" if native else "fp32")
    with trainer.autocast():
        assert torch.is_autocast_enabled("cpu") == native
    # the test accuracy is the fp32 model's: the same logits as a plain fp32 forward
    trainer.model.eval()
    with torch.no_grad():
        sums = trainer._correct_loss_n(trainer.test_data)
        logits = trainer.model(trainer._inputs(trainer.test_data.images))
    right = (logits.argmax(1) == trainer.test_data.labels).sum().item()
    assert sums[0].item() == right and sums[2].item() == 50
    assert sums[1].item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, trainer.test_data.labels, reduction="sum").item(),
        rel=1e-6)


@pytest.mark.parametrize("recorded", ["fp32", "bf16"])
def test_continuing_with_auto_keeps_the_recorded_precision(recorded):
    old = {"train": {"precision": recorded, "epochs": 2}}
    assert _first_difference(old, {"train": {"precision": "auto", "epochs": 2}}) is None
    other = "bf16" if recorded == "fp32" else "fp32"
    assert _first_difference(old, {"train": {"precision": other, "epochs": 2}}) == (
        f"train.precision was {recorded!r}, now {other!r}")
