"""--cuda-graph's step on static buffers (training/graph_step.py) is the eager step: on the CPU,
where everything but the capture runs through the same code, weights, k and metrics agree bit
for bit with an eager run, for every method, the ragged tail batch included."""

import pytest
import torch

from smoot_dist.config import build_config
from smoot_dist.foundations.errors import ConfigError
from smoot_dist.config import validate
from smoot_dist.training.trainer import Trainer


def _train(method, cuda_graph, precision="fp32", optimizer="adadelta", samples=540, batch=256):
    cfg = build_config(overrides={
        "data": {"dataset": "mnist", "train_subset": samples, "test_subset": 100},
        "method": {"name": method}, "model": {"name": "cnn"},
        "train": {"epochs": 1, "batch_size": batch, "device": "cpu", "cuda_graph": cuda_graph,
                  "precision": precision, "optimizer": optimizer, "seed": 3}})
    trainer = Trainer(cfg, progress=False, log=lambda s: None)
    history = trainer.fit()
    return trainer, history


@pytest.mark.parametrize("method", ["traditional", "sgt", "smoot", "random_mask"])
def test_static_buffer_step_equals_the_eager_step_bit_for_bit(method):
    eager, h_eager = _train(method, False)
    static, h_static = _train(method, True)
    assert static.graph_step is not None and static.graph_step.graph is None  # CPU: no capture
    # 540 samples, batch 256: two full batches on the static buffers, the tail of 28 eager
    assert static.graph_step.batch_size == 256
    for (name, a), b in zip(eager.model.state_dict().items(), static.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(eager.mask_state.k, static.mask_state.k)
    for a, b in zip(h_eager, h_static):
        for key in ("train_ce", "train_kl", "train_accuracy", "test_accuracy"):
            assert a[key] == b[key], key
    if method == "smoot":
        assert not torch.all(static.mask_state.k == static.mask_state.k[0])  # k moved per sample


def test_adam_on_static_buffers_equals_eager():
    eager, _ = _train("smoot", False, optimizer="adam")
    static, _ = _train("smoot", True, optimizer="adam")
    for a, b in zip(eager.model.state_dict().values(), static.model.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(eager.mask_state.k, static.mask_state.k)


def test_bf16_on_static_buffers_differs_only_by_the_weight_cast_cache():
    """A graph may not keep autocast's cache of bf16 weights, and without it each branch's
    gradient is cast back to fp32 before the two are summed (with it, they are summed in bf16):
    close, not equal."""
    # bf16 is slow on a CPU: two full batches of 128 and a tail of 24
    eager, _ = _train("smoot", False, precision="bf16", samples=280, batch=128)
    static, _ = _train("smoot", True, precision="bf16", samples=280, batch=128)
    flat = lambda t: torch.cat([v.flatten().float() for v in t.model.state_dict().values()])  # noqa: E731
    a, b = flat(eager), flat(static)
    assert not torch.equal(a, b)  # the cache does change something
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.999
    assert (a - b).norm() / a.norm() < 0.02
    assert (eager.mask_state.k - static.mask_state.k).abs().max() < 1e-2


def test_cuda_graph_with_compile_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="--cuda-graph and --compile"):
        validate(build_config(overrides={"data": {"dataset": "mnist"},
                                         "train": {"cuda_graph": True, "compile": True}}))


def test_a_frame_that_torch_compile_cannot_compile_is_reported_not_hidden(monkeypatch):
    import torch._dynamo
    from torch._dynamo.utils import counters

    from smoot_dist.training.trainer import compile_report

    def failing_backend(graph, example_inputs):
        raise RuntimeError("this backend compiles nothing")

    counters.clear()
    torch._dynamo.reset()
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", True)  # as compile_models sets it
    model = torch.compile(torch.nn.Linear(3, 2), backend=failing_backend)
    out = model(torch.ones(1, 3))  # runs eagerly: suppress_errors swallows the failure
    assert out.shape == (1, 2)
    line = compile_report()
    assert line.startswith("warning: torch.compile: 0 of 1 frame(s) compiled") and "fell back" in line
    counters.clear()
    torch._dynamo.reset()
    assert torch.compile(lambda x: x * 2, backend="eager")(torch.ones(2)).sum() == 4
    assert compile_report() == "torch.compile: 1 of 1 frame(s) compiled, 0 graph break(s)"
