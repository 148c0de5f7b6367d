"""The whole training step on static buffers, captured once as a CUDA graph and replayed
(`--cuda-graph`). On a GPU the MNIST CNN's step is bound by kernel launches (DESIGN.md: 4.9 ms
eager, 2.3 ms as one graph at batch 256); a graph launches the step's few hundred kernels at once.

What a graph needs, and how the step gives it:
- fixed addresses: the batch, its k and its labels are copied into buffers made once; the
  outputs (ce, kl, logits, new k) are copied out of the step into buffers made once;
- one batch shape: only full batches use it; the ragged tail batch runs the eager step;
- gradients that stay where they are: zeroed in place (zero_), never set to None, before the
  backward adds into them (0 + g is g exactly, so the result equals the eager step's);
- an optimizer whose step count lives on the device (`capturable=True`);
- no autocast weight cache (a cached cast would be captured once and go stale).
Everything but the capture runs on the CPU too, through the same code, and equals the eager
step bit for bit there (tests/unit/test_graph_step.py), so the graph replays what was tested.

DDP is left eager: capturing its gradient all-reduce needs NCCL's asynchronous error handling
off, DDP built on the capture's side stream and 11 warm-up iterations before capture
(PyTorch's CUDA-graph notes), none of which a CPU can test; a DDP run with --cuda-graph says so
and trains eagerly.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config import MethodConfig
from ..method.step import StepResult, method_step

WARMUP_STEPS = 3  # eager steps on a side stream before capture (PyTorch's CUDA-graph recipe)


class StaticStep:
    def __init__(self, cfg: MethodConfig, train_model: nn.Module, saliency_model: nn.Module,
                 optimizer: torch.optim.Optimizer, batch_size: int, sample: torch.Tensor,
                 fuse: bool, autocast: Callable[[], object]):
        """`sample`: one input batch (any), for the buffers' shape, dtype and memory format."""
        self.cfg, self.train_model, self.saliency_model = cfg, train_model, saliency_model
        self.optimizer, self.fuse, self.autocast = optimizer, fuse, autocast
        device = sample.device
        self.x = torch.zeros((batch_size, *sample.shape[1:]), dtype=sample.dtype, device=device)
        if sample.is_contiguous(memory_format=torch.channels_last) and sample.dim() == 4:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.k = torch.zeros(batch_size, dtype=torch.float32, device=device)
        self.batch_size = batch_size
        self.outputs: StepResult | None = None  # the static outputs, after the first step
        self.graph = None
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.capture = device.type == "cuda"

    def fits(self, x: torch.Tensor) -> bool:
        return x.shape[0] == self.batch_size

    def _body(self) -> StepResult:
        """One step on the buffers; returns its outputs (fresh tensors)."""
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()  # in place: a graph's gradients keep their addresses
        uses_k = self.cfg.name != "traditional"
        with self.autocast():
            out = method_step(self.cfg, self.train_model, self.saliency_model, self.x, self.y,
                              self.k if uses_k else None, fuse=self.fuse)
        out.loss.backward()
        self.optimizer.step()
        return out

    def _copy_out(self, out: StepResult) -> None:
        if self.outputs is None:
            self.outputs = StepResult(
                out.loss.detach().clone(), out.ce.clone(), out.kl.clone(), out.logits.clone(),
                None if out.new_k is None else out.new_k.clone())
            return
        for static, fresh in zip(self.outputs.__dict__.values(), out.__dict__.values()):
            if static is not None:
                static.copy_(fresh.detach())

    def _first_steps(self) -> None:
        """Make every gradient exist (so that zero_ keeps it), warm up, and capture."""
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if not self.capture:
            return
        # the warm-up steps train on this batch: put the weights and the optimizer's state
        # back afterwards (in place, where the graph will read them), so the run trains as if
        # the first step were the first
        saved = {id(t): t.detach().clone() for t in self._state_tensors()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self._copy_out(self._body())
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._copy_out(self._body())
        with torch.no_grad():
            for t in self._state_tensors():
                # state the optimizer made in the warm-up (it makes it on its first step) goes
                # back to zero: its initial value for Adadelta, Adam, AdamW and SGD's momentum
                t.copy_(saved[id(t)]) if id(t) in saved else t.zero_()

    def _state_tensors(self) -> list[torch.Tensor]:
        """What a step changes besides the outputs: the weights and the optimizer's state."""
        out = list(self.params)
        for state in self.optimizer.state.values():
            out += [v for v in state.values() if torch.is_tensor(v)]
        return out

    def __call__(self, x: torch.Tensor, y: torch.Tensor, k: torch.Tensor | None) -> StepResult:
        """The step for a full batch: inputs copied in, the step replayed (or, on a CPU or
        before capture, run on the buffers), the static outputs returned. Read them before the
        next call, which overwrites them."""
        self.x.copy_(x)
        self.y.copy_(y)
        if k is not None:
            self.k.copy_(k)
        if self.outputs is None:
            self._first_steps()
            if self.graph is not None:  # the warm-up and capture did not train on this batch
                self.graph.replay()
                return self.outputs
            self._copy_out(self._body())
            return self.outputs
        if self.graph is not None:
            self.graph.replay()
        else:
            self._copy_out(self._body())
        return self.outputs
