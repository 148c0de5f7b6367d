"""SMOOT's step costs about what SGT's does in operators dispatched (each a kernel launch on a
GPU, where the MNIST CNN's step is launch-bound): the count bench/step.py prints, at batch 1 on
the CPU, where the profiler counts it exactly. A count, not a time: it does not depend on the
machine's load."""

import importlib.util
from pathlib import Path

import torch

from smoot_dist.config import build_config
from smoot_dist.method.step import method_step
from smoot_dist.models.cnn import MnistCNN
from smoot_dist.training.trainer import build_optimizer

_COMMON = Path(__file__).resolve().parents[2] / "bench" / "common.py"


def _dispatcher_calls():
    spec = importlib.util.spec_from_file_location("bench_common", _COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dispatcher_calls


def test_smoot_dispatches_at_most_5_percent_more_operators_than_sgt():
    count = _dispatcher_calls()
    x, y = torch.randn(1, 1, 28, 28), torch.tensor([3])
    calls = {}
    for method in ("sgt", "smoot"):
        cfg = build_config(overrides={"data": {"dataset": "mnist"}, "method": {"name": method}}).method
        torch.manual_seed(0)
        model = MnistCNN()
        opt = build_optimizer("adadelta", model.parameters(), 1.0)
        k = torch.full((1,), 0.5)

        def step():
            out = method_step(cfg, model, model, x, y, k)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
        calls[method] = count(step)
    assert calls["sgt"] > 100  # the count is of the whole step (forward, backward, optimizer)
    assert calls["smoot"] / calls["sgt"] <= 1.05, calls
