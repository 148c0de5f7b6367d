"""The Ray Train adapter, on the driver: start a TorchTrainer whose workers run
launch/ray_worker.py, and turn its result into the job's TrainingOutcome."""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import ray.train
from ray.train import (CheckpointConfig, FailureConfig, LoggingConfig, RunConfig as RayRunConfig,
                       ScalingConfig)
from ray.train.torch import TorchTrainer
from ray.util.queue import Empty, Queue
from tqdm import tqdm

from ..config import JobConfig
from ..data.paths import pin_data_root
from ..foundations.errors import UserError
from ..foundations.files import disk_problem
from ..foundations.uris import store_problem
from ..method.step import second_term_name
from ..runs.folder import RunSpec
from ..foundations.signals import Terminated
from ..training.checkpoint import load_checkpoint
from ..training.outcome import TrainingOutcome
from ..training.step_progress import StepReport, step_sink
from ..training.trainer import EpochHook, TrainingDiverged
from ..runs.tracking import MlflowRun

from .ray_callbacks import EpochRelay, MlflowEpochLogger
from .ray_cluster import connect
from .ray_worker import worker_loop


class _Trainer(TorchTrainer):
    """A TorchTrainer on which Ctrl-C and SIGTERM behave as in an in-process run: the run is
    aborted (its workers stop within seconds) and the job ends as interrupted, instead of Ray
    Train's own handler exiting with no word. A second signal stops waiting for the abort."""

    interrupted: int | None = None  # the signal that aborted the run

    def _register_sigint_handler(self, controller) -> None:  # replaces Ray Train's handler
        def on_signal(signum, frame):
            if self.interrupted is not None:
                raise self.stopped()
            self.interrupted = signum
            controller.abort.remote()  # asynchronous: a signal handler must not block

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def stopped(self) -> KeyboardInterrupt:
        """What the job raises once the aborted run has ended."""
        return Terminated() if self.interrupted == signal.SIGTERM else KeyboardInterrupt()


def _explained(err: BaseException) -> UserError | None:
    """A failed Ray Train run as one line, where we know what it means: workers that could not
    be started, or a user error raised in a worker."""
    if isinstance(err, ray.train.ControllerError):
        cause = err.controller_failure
        return UserError(f"the Ray Train workers could not start ({type(cause).__name__}: "
                         f"{str(cause).splitlines()[0][:200]}); see `ray status` for what the "
                         f"cluster has free, or use fewer --workers")
    for exc in (getattr(err, "worker_failures", {}) or {}).values():
        while exc is not None:
            if isinstance(exc, UserError):
                return UserError(str(exc))
            problem = disk_problem(exc)
            if problem:  # a worker's checkpoint, written or uploaded
                return UserError(f"a Ray Train worker could not write its checkpoint: {problem}; "
                                 f"the last completed checkpoint is kept; free some space (or "
                                 f"choose another --storage-path) and run the same command again")
            problem = store_problem(exc)
            if problem:  # the object store stayed away through Ray's retries and our restarts
                return UserError(f"the storage path did not answer a Ray Train worker ({problem}); "
                                 f"the last completed checkpoint is kept there and the run's files "
                                 f"here; run the same command again when it answers")
            exc = getattr(exc, "cause", None) or exc.__cause__
    return None


class _EpochPrinter:
    """While the run is fitted, a thread prints the lines the controller's EpochRelay queues: one
    line per epoch on the driver's console, whatever the number of workers; with `epochs`, under
    a bar over the epochs with its ETA (show_progress decided it is a terminal)."""

    def __init__(self, queue, epochs: int = 0, steps: Callable[[StepReport], None] | None = None):
        """`steps`: what becomes of rank 0's StepReports (lines in a log, MLflow's step
        metrics), which come through the same queue."""
        self.queue, self.bar, self.steps = queue, None, steps
        if queue is not None and epochs:
            self.bar = tqdm(total=epochs, unit="epoch", desc="training", leave=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self._print(timeout=0.5)

    def _print(self, timeout: float | None) -> bool:
        try:
            line = self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
        except Empty:
            return False
        except Exception:  # the queue's actor gone (Ray shutting down): nothing more to print
            self.stop.set()
            return False
        report = StepReport.from_dict(line)
        if report is not None:
            if self.steps is not None:
                self.steps(report)
            return True
        if self.bar is None:
            print(line, flush=True)
        else:
            self.bar.write(line)
            if line.startswith("epoch "):
                self.bar.n = int(line.split()[1].split("/")[0])
                self.bar.refresh()
        return True

    def __enter__(self):
        if self.queue is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.queue is None:
            return
        self.stop.set()
        self.thread.join()
        while self._print(timeout=None):  # what was queued after the thread's last look
            pass
        if self.bar is not None:
            self.bar.close()
        try:
            ray.kill(self.queue.actor)
        except Exception:
            pass


def _scaling(run) -> ScalingConfig:
    """Fixed, or elastic between MIN and MAX workers: Ray Train restarts the worker group at
    another size when capacity appears or goes, and every restart resumes from the latest
    checkpoint with the mask state re-sharded for the new world size (launch/ray_worker.py)."""
    if run.max_workers is None:
        return ScalingConfig(num_workers=run.workers, use_gpu=run.use_gpu)
    return ScalingConfig(num_workers=(run.workers, run.max_workers), use_gpu=run.use_gpu,
                         elastic_resize_monitor_interval_s=run.resize_check_s)


def run_with_ray(cfg: JobConfig, spec: RunSpec, tracker: MlflowRun | None,
                 resume_from: Path | None = None, *, epoch_hooks: Sequence[EpochHook] = (),
                 callbacks: Sequence = (),
                 replay: tuple[str, frozenset[int]] | None = None) -> TrainingOutcome:
    """Train under Ray Train with cfg.run's workers, GPUs and failure budget. `resume_from`: the
    run folder's newest intact checkpoint (the workers take Ray's own latest if it holds more);
    `epoch_hooks` run in every worker after each epoch; `callbacks` are extra Ray Train
    UserCallbacks; `replay`: (MLflow run id, its epochs) to compare with the checkpoint Ray
    Train resumes from, at the first resumed epoch (ray_callbacks.epoch_lines)."""
    run = cfg.run
    connect(run.ray_address)
    feed = ("streaming each worker's own Parquet shard files through Ray Data"
            if cfg.data.loader == "stream" else "train split in each worker's memory")
    count = f"{run.workers} to {run.max_workers} (elastic)" if run.max_workers else run.workers
    print(f"training {cfg.method.name} on {cfg.data.dataset} with {count} Ray Train worker(s) "
          f"({'GPU' if run.use_gpu else 'CPU'}; {feed}); checkpoints: {spec.storage_path}/{spec.name}",
          flush=True)
    # The workers need the experiment only; the progress bar is the driver's business.
    worker_cfg = replace(pin_data_root(cfg), run=replace(run, progress=False))
    # The epoch lines come from the controller, through a queue (unless Ray forwards everything)
    relay = None if run.verbose else Queue(actor_options={"num_cpus": 0})
    relays = ([EpochRelay(relay, cfg.train.epochs, second_term_name(cfg.method.name), replay)]
              if relay is not None else [])
    trainer = _Trainer(
        worker_loop,
        train_loop_config={"cfg": worker_cfg, "epoch_hooks": tuple(epoch_hooks),
                           "resume_from": str(resume_from) if resume_from else None,
                           "relay": relay},
        scaling_config=_scaling(run),
        run_config=RayRunConfig(
            name=spec.name, storage_path=spec.storage_path,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            # Startup failures (workers that cannot be placed within Ray Train's startup timeout)
            # count too: Ray's default would retry them forever.
            failure_config=FailureConfig(max_failures=run.max_failures,
                                         controller_failure_limit=run.max_failures),
            # Ray Train's INFO lines repeat every report's metrics; our epoch lines say it once.
            logging_config=LoggingConfig(log_level="WARNING"),
            callbacks=([MlflowEpochLogger(tracker, relay)] if tracker is not None else []) + relays
            + list(callbacks)),
    )

    # Ray Train takes over Ctrl-C in the main thread only (Tune trials run in others).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # within an epoch: lines in a log and MLflow's step metrics, from the driver only
        steps = step_sink(run.progress_lines, tracker.step_metrics if tracker is not None else None)
        with _EpochPrinter(relay, cfg.train.epochs if run.progress else 0, steps):
            result = trainer.fit()
    except BaseException as err:
        if trainer.interrupted is not None:  # the abort ends the controller: its errors are no news
            raise trainer.stopped() from None
        explained = _explained(err) if isinstance(err, ray.train.TrainingFailedError) else None
        if explained is None:
            raise
        raise explained from None
    finally:
        if main_thread:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if trainer.interrupted is not None:
        raise trainer.stopped()
    record: dict[str, Any] = {"history": []}
    k, state = None, {"model": {}}
    if result.checkpoint is not None:
        with result.checkpoint.as_directory() as folder:
            state, k, record = load_checkpoint(folder)
    done = len(record["history"])
    if done < cfg.train.epochs:
        kept = (f"the checkpoint of epoch {done} is kept in {spec.storage_path}/{spec.name}"
                if done else "no epoch completed")
        raise TrainingDiverged.in_epoch(done + 1, kept=kept)
    device = "cuda" if run.use_gpu else "cpu"
    workers = record["history"][-1].get("workers", run.workers)  # elastic: the last size
    return TrainingOutcome(record["history"], k, record.get("resumes", []), device, workers,
                           state["model"])
