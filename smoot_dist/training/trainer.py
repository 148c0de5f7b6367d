"""The training loop for one process (CPU or one GPU). No Ray here.

The same Trainer runs in a plain Python process (`--workers 0`, tests, the GPU machine) and
inside each Ray Train worker; the distributed parts come in as two small hooks: `wrap_model`
(DDP) and `all_reduce` (sum a tensor over ranks). Metrics accumulate on the device and are
read once per epoch, so no step waits on the host. What a step computes is specified in
docs/method.md; `method/step.py` computes it.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from ..config import ANNOTATION_METHODS, JobConfig
from ..data.loading import Splits, channel_stats, load_splits, normalize
from ..data.sharding import mix_seed, shard_indices, shard_owner
from ..foundations.errors import UserError
from ..method.kstats import k_stats_payload, summarize_k_stats
from ..method.mask_state import MaskState
from ..method.step import method_step, second_term_name
from .graph_step import StaticStep
from .precision import resolve_precision
from ..models.inference import forward_in_slices
from ..models.registry import create_model
from .batches import MemoryBatches, TrainBatches
from .step_progress import StepReport, report_steps

AllReduce = Callable[[torch.Tensor], torch.Tensor]
# Called on every rank after each epoch with the trainer and the epoch's metrics, which it may
# extend (e.g. a sweep's objective); it may use the trainer's all_reduce.
EpochHook = Callable[["Trainer", dict[str, Any]], None]


class VisitError(RuntimeError):
    """An epoch did not visit every training sample exactly once, each on its owning rank."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""

    @classmethod
    def in_epoch(cls, epoch: int, value: str = "NaN or infinite",
                 kept: str = "the last completed epoch's state is kept") -> "TrainingDiverged":
        return cls(f"the loss became {value} in epoch {epoch}; lower --lr or --lambda ({kept})")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return torch.device(name)


def build_optimizer(name: str, params, lr: float, capturable: bool = False) -> torch.optim.Optimizer:
    """`capturable`: the optimizer's step count on the device, so a CUDA graph can hold its
    step (SGD has no step count)."""
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, capturable=capturable)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, capturable=capturable)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, capturable=capturable)
    raise UserError(f"unknown optimizer {name!r}")


def compile_models(train_model: nn.Module, plain_model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """torch.compile both forward paths; on any compiler failure, dynamo falls back to eager.

    State (weights, optimizer, checkpoints) stays with the plain modules: compiled wrappers
    share their parameters.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # the fallback: eager where compiling fails
    return torch.compile(train_model), torch.compile(plain_model)


def compile_report() -> str:
    """What torch.compile made of this process's frames so far, in one line: with
    suppress_errors a failing frame runs eagerly in silence, so say how many did."""
    from torch._dynamo.utils import counters

    total, ok = counters["frames"]["total"], counters["frames"]["ok"]
    breaks = sum(counters["graph_break"].values())
    line = f"torch.compile: {ok} of {total} frame(s) compiled, {breaks} graph break(s)"
    if ok < total:
        return (f"warning: {line}; {total - ok} fell back to eager (TORCH_LOGS=dynamo shows "
                f"why)")
    return line


def _local_sum(t: torch.Tensor) -> torch.Tensor:
    return t


class Trainer:
    def __init__(self, cfg: JobConfig, *, rank: int = 0, world_size: int = 1,
                 device: torch.device | None = None, splits: Splits | None = None,
                 wrap_model: Callable[[nn.Module], nn.Module] | None = None,
                 all_reduce: AllReduce = _local_sum, progress: bool = False,
                 log: Callable[[str], None] = print, epoch_hooks: Sequence[EpochHook] = (),
                 train_batches: TrainBatches | None = None,
                 on_step: Callable[[StepReport], None] | None = None):
        """`progress`: show a per-batch bar (rank 0 only); the command line decides it.
        `on_step`: given rank 0's StepReports, STEP_POINTS per epoch (console lines off a
        terminal, MLflow's step metrics).
        `train_batches`: where training batches come from (default: the train split, loaded
        whole; then `splits` may leave its train split out)."""
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        self.device = device or resolve_device(cfg.train.device)
        # a job resolves `auto` before it records the config; a Trainer made directly does here
        self.precision, _ = resolve_precision(cfg.train.precision, self.device)
        self.all_reduce, self.log, self.epoch_hooks = all_reduce, log, tuple(epoch_hooks)
        self.progress = progress and rank == 0
        self.on_step = on_step if rank == 0 else None
        self.splits = splits or load_splits(cfg.data, train=train_batches is None)
        self.spec = self.splits.spec
        self.num_pixels = self.spec.num_pixels
        self.train_batches = train_batches or MemoryBatches(
            self.splits.train.to(self.device), rank, world_size, cfg.train.batch_size, cfg.train.seed)
        self.num_train = self.train_batches.num_samples
        # Each rank evaluates its own share of the test (and validation) set; counts are summed.
        share = lambda data: data.select(  # noqa: E731
            shard_indices(len(data), rank, world_size)).to(self.device)
        self.test_data = share(self.splits.test)
        self.val_data = share(self.splits.val) if self.splits.val is not None else None
        self.mean, self.std = channel_stats(self.spec, self.device)

        torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
        self.model = create_model(cfg.model, self.spec).to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_model = wrap_model(self.model) if wrap_model else self.model
        self.saliency_model = self.model  # the saliency pass must bypass DDP
        self._compile_reported = False
        if cfg.train.compile:
            self.train_model, self.saliency_model = compile_models(self.train_model, self.model)
        # --cuda-graph: the step on static buffers (training/graph_step.py), made at the first
        # full batch; DDP stays eager (why: graph_step's docstring)
        self.graph_wanted = cfg.train.cuda_graph and wrap_model is None
        if cfg.train.cuda_graph and wrap_model is not None and rank == 0:
            self.log("--cuda-graph: DDP's gradient all-reduce is not captured; training eagerly")
        self.graph_step: StaticStep | None = None
        self.optimizer = build_optimizer(cfg.train.optimizer, self.model.parameters(), cfg.train.lr,
                                         capturable=self.graph_wanted and self.device.type == "cuda")
        self.uses_mask = cfg.method.name not in ("traditional", *ANNOTATION_METHODS)
        # RRR's annotation of each training sample, by global index (data/loading.Splits)
        self.annotations = (self.splits.train_annotation.to(self.device)
                            if cfg.method.name in ANNOTATION_METHODS else None)
        self.mask_state = MaskState.initial(self.num_train, cfg.method.k0, rank, world_size,
                                            self.device, block=self.train_batches.block)
        self.epoch = 0  # completed epochs

    # -- one epoch -------------------------------------------------------------------------
    def train_epoch(self) -> dict[str, float]:
        cfg = self.cfg
        # Re-seeded per epoch (and rank): dropout and random fills are reproducible from the
        # epoch number alone, so resuming at an epoch boundary replays the same stream.
        torch.manual_seed(mix_seed(cfg.train.seed, self.epoch, self.rank, 1))
        self.model.train()
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # ce, kl, correct
        # Visits per owned sample, and visits of samples another rank owns: checked at the end
        # of the epoch (each exactly once, none foreign), with no host sync per step.
        visits = torch.zeros(self.mask_state.k.numel(), dtype=torch.int32, device=self.device)
        foreign = torch.zeros((), dtype=torch.int64, device=self.device)
        bar = tqdm(self.train_batches.epoch(self.epoch), total=self.train_batches.steps(),
                   desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}", unit="batch",
                   disable=not self.progress, leave=False, mininterval=2.0)
        steps, total = 0, self.train_batches.steps()
        points = report_steps(total) if self.on_step is not None and total else {}
        started, images_done = time.perf_counter(), 0
        for idx, images, y in bar:
            b, steps = idx.numel(), steps + 1
            images_done += b
            owned = shard_owner(idx, self.world_size, self.mask_state.block) == self.rank
            foreign += (~owned).sum()
            # masked by weight, not by selection: a boolean selection would sync with the host
            where = self.mask_state.positions(idx).clamp_(max=max(visits.numel() - 1, 0))
            visits.index_add_(0, where, owned.to(torch.int32))
            x = self._inputs(images)
            k = self.mask_state.get(idx) if self.uses_mask else None
            if self.graph_wanted and self.graph_step is None:
                self.graph_step = StaticStep(cfg.method, self.train_model, self.saliency_model,
                                             self.optimizer, cfg.train.batch_size, x,
                                             cfg.train.fuse_branches,
                                             lambda: self.autocast(cache=False))
            if self.graph_step is not None and self.graph_step.fits(x):
                out = self.graph_step(x, y, k)  # static outputs: used before the next step
            else:
                with self.autocast(cache=not self.graph_wanted):
                    out = method_step(cfg.method, self.train_model, self.saliency_model, x, y, k,
                                      fuse=cfg.train.fuse_branches,
                                      annotation=self.annotations[idx]
                                      if self.annotations is not None else None)
                if self.graph_wanted:  # the tail batch: gradients stay where the graph has them
                    for p in self.model.parameters():
                        if p.grad is not None:
                            p.grad.zero_()
                else:
                    self.optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                self.optimizer.step()
            if out.new_k is not None:
                self.mask_state.set(idx, out.new_k)
            sums += torch.stack([out.ce.double() * b, out.kl.double() * b,
                                 (out.logits.argmax(1) == y).sum().double()])
            if steps in points:  # a host sync, STEP_POINTS times an epoch
                ce_sum, _, right = sums.tolist()
                self.on_step(StepReport(
                    self.epoch + 1, cfg.train.epochs, steps, total, points[steps],
                    images_done * self.world_size, time.perf_counter() - started,
                    ce_sum / images_done, right / images_done))
        n = visits.sum(dtype=torch.float64) + foreign
        tail = torch.stack([n, visits.eq(1).sum(dtype=torch.float64), foreign.double(),
                            torch.tensor(float(steps), dtype=torch.float64, device=self.device)])
        # the one host sync of the epoch
        ce, kl, correct, n, once, foreign, steps_sum = self.all_reduce(torch.cat([sums, tail])).tolist()
        if not (math.isfinite(ce) and math.isfinite(kl)):
            raise TrainingDiverged.in_epoch(self.epoch + 1,
                                            "NaN" if ce != ce or kl != kl else "infinite")
        if once != self.num_train or foreign or n != self.num_train:
            raise VisitError(f"epoch {self.epoch + 1} visited {int(once)} of {self.num_train} "
                             f"samples exactly once ({int(n)} visits, {int(foreign)} on a rank "
                             f"that does not own the sample)")
        if steps_sum != steps * self.world_size:  # DDP would have hung; a stream can say so
            raise VisitError(f"epoch {self.epoch + 1}: ranks took different numbers of steps")
        self.epoch += 1
        return {"train_ce": ce / n, "train_kl": kl / n, "train_accuracy": correct / n,
                "visited_once": int(once)}

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        x = normalize(images, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.train.channels_last else x

    def autocast(self, cache: bool = True):
        """bf16 autocast for the training step's forward passes when the run's precision is bf16
        (backward runs outside it; evaluation is fp32).
        `cache` False: no weight-cast cache (a CUDA graph would keep a stale one)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16", cache_enabled=cache)

    def _eval_splits(self) -> dict[str, Any]:
        return {"test": self.test_data, **({"val": self.val_data} if self.val_data is not None else {})}

    @torch.no_grad()
    def _evaluation_sums(self) -> torch.Tensor:
        """This rank's (correct, loss, n) of each split of _eval_splits, on the device."""
        self.model.eval()
        return torch.cat([self._correct_loss_n(d) for d in self._eval_splits().values()])

    def _evaluation_metrics(self, sums: torch.Tensor) -> dict[str, float]:
        out = {}
        for i, name in enumerate(self._eval_splits()):
            correct, loss, n = sums[3 * i:3 * i + 3].tolist()
            out.update({f"{name}_accuracy": correct / n, f"{name}_loss": loss / n})
        return out

    def evaluate(self) -> dict[str, float]:
        """`test_accuracy`, `test_loss` and, with a validation split, `val_accuracy`, `val_loss`
        (one all-reduce for both)."""
        return self._evaluation_metrics(self.all_reduce(self._evaluation_sums()).cpu())

    def epoch_statistics(self) -> tuple[dict[str, float], dict[str, float]]:
        """evaluate() and k_stats() together: one all-reduce and one device-to-host copy for
        both (on a GPU each copy is a sync that drains the queue of launched kernels)."""
        sums = self._evaluation_sums()
        payload = self._k_payload()
        both = self.all_reduce(sums if payload is None else torch.cat([sums, payload])).cpu()
        k = (self._no_mask_k_stats() if payload is None
             else summarize_k_stats(both[len(sums):], self.num_pixels))
        return self._evaluation_metrics(both[:len(sums)]), k

    def _correct_loss_n(self, data) -> torch.Tensor:
        """(correct predictions, summed cross-entropy, images) of this rank's share of a split."""
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        bs = self.cfg.train.eval_batch_size
        for start in range(0, len(data), bs):
            x = self._inputs(data.images[start:start + bs])
            y = data.labels[start:start + bs]
            # fp32 whatever the training precision: a model's accuracy is measured the same
            # way in every run, so runs trained in bf16 and fp32 compare like with like
            logits = forward_in_slices(self.model, x).float()
            correct += (logits.argmax(1) == y).sum()
            loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").double()
        n = torch.tensor(float(len(data)), dtype=torch.float64, device=self.device)
        return torch.stack([correct, loss, n])

    def _no_mask_k_stats(self) -> dict[str, float]:
        # No masking: the paper's tables report K = 0 for traditional training.
        return {"min": 0, "median": 0.0, "max": 0, "mean_fraction": 0.0,
                "share_at_min": 0.0, "share_at_max": 0.0, "n": self.num_train}

    def _k_payload(self) -> torch.Tensor | None:
        """This rank's summable K statistics (float64, on the device), None without a mask."""
        if not self.uses_mask:
            return None
        m = self.cfg.method
        return k_stats_payload(self.mask_state.k, self.num_pixels, m.k_min, m.k_max)

    def k_stats(self) -> dict[str, float]:
        """Exact statistics of K over all N training samples (pixel counts)."""
        payload = self._k_payload()
        if payload is None:
            return self._no_mask_k_stats()
        return summarize_k_stats(self.all_reduce(payload), self.num_pixels)

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch, evaluate, and return the epoch's metrics (the same on every rank)."""
        start = time.perf_counter()
        metrics: dict[str, Any] = {"epoch": self.epoch + 1, "workers": self.world_size}
        metrics.update(self.train_epoch())
        train_time = time.perf_counter() - start
        evaluation, k = self.epoch_statistics()
        metrics.update(evaluation)
        metrics["k"] = k
        metrics["train_time_s"] = train_time
        metrics["epoch_time_s"] = time.perf_counter() - start
        if self.rank == 0:
            self.log(format_epoch(metrics, self.cfg.train.epochs,
                                  second_term_name(self.cfg.method.name)))
            if self.cfg.train.compile and not self._compile_reported:
                self._compile_reported = True  # once: every frame is compiled in epoch 1
                self.log(compile_report())
        for hook in self.epoch_hooks:
            hook(self, metrics)
        return metrics

    def fit(self, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        history = []
        while self.epoch < self.cfg.train.epochs:
            metrics = self.run_epoch()
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)
        return history

    # -- checkpoint state (a plain dict) -----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer and epoch; the mask state is saved separately, as Parquet."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any], k_global: torch.Tensor | None) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        if k_global is not None:
            self.mask_state = MaskState.from_global(k_global, self.rank, self.world_size, self.device,
                                                    block=self.train_batches.block)


def format_epoch(m: dict[str, Any], epochs: int, second: str = "kl") -> str:
    """One epoch's console line; `second`: the name of the method's second term
    (method.step.second_term_name: RRR's is its gradient penalty, not a KL)."""
    k = m["k"]
    return (f"epoch {m['epoch']}/{epochs}  ce {m['train_ce']:.4f}  {second} {m['train_kl']:.4f}  "
            f"train_acc {m['train_accuracy']:.4f}  "
            + (f"val_acc {m['val_accuracy']:.4f}  " if "val_accuracy" in m else "")
            + f"test_acc {m['test_accuracy']:.4f}  "
            f"K min/med/max {k['min']}/{k['median']:g}/{k['max']}  k_mean {k['mean_fraction']:.3f}  "
            f"({m['epoch_time_s']:.1f} s)")
