"""Checks before a training job creates anything: fail in seconds, not in a worker."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import torch

from ..config import JobConfig, MethodConfig
from ..data.loading import Splits, load_splits
from ..foundations.deadline import failure_within, first_line
from ..foundations.errors import UserError
from ..attribution.methods import import_captum
from ..foundations.files import existing_folder, free_space
from ..foundations.uris import without_credentials
from ..runs.folder import storage_location
from ..models.registry import create_model

DEFAULT_TOP_N = MethodConfig.n


def check_data_and_model(cfg: JobConfig) -> tuple[Splits, int]:
    """Data present and intact, subset sizes possible, model buildable and able to take the
    dataset's images, SMOOT's top-n within the classes; returns the loaded splits (a streamed
    train split: its files checked, not loaded) and the bytes of the model's parameters."""
    splits = load_splits(cfg.data, train=cfg.data.loader != "stream")
    model = create_model(cfg.model, splits.spec).eval()
    spec = splits.spec
    _check_top_n(cfg, spec)
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, spec.channels, spec.image_size, spec.image_size))
    except Exception as err:  # shape errors come as RuntimeError, AssertionError, ValueError...
        first = first_line(err)
        raise UserError(f"model {cfg.model.name} cannot take {spec.title}'s {spec.channels}x"
                        f"{spec.image_size}x{spec.image_size} images ({first}); choose "
                        f"--input-size/--patch-size that fit it") from None
    if tuple(out.shape) != (2, spec.num_classes):
        raise UserError(f"model {cfg.model.name} gives outputs of shape {tuple(out.shape)[1:]}, "
                        f"not {spec.num_classes} class scores; choose another --model")
    return splits, sum(p.numel() * p.element_size() for p in model.parameters())


def _check_top_n(cfg: JobConfig, spec) -> None:
    """SMOOT's n counts the label and n - 1 runner-up classes, so it cannot exceed the classes.
    The default n is capped on a dataset with fewer classes (and says so); an n the user chose
    above the class count is refused."""
    n, classes = cfg.method.n, spec.num_classes
    if cfg.method.name != "smoot" or n <= classes:
        return
    if n != DEFAULT_TOP_N:
        raise UserError(f"--top-n {n} is more than the {classes} classes of {spec.title}; give "
                        f"--top-n {classes} or fewer")
    print(f"note: SMOOT's top-n ({n}) is capped at the {classes} classes of {spec.title}",
          flush=True)


# Optimizer state kept per parameter (Adadelta: square averages of gradients and of updates).
OPTIMIZER_BUFFERS = {"adadelta": 2, "adam": 2, "adamw": 2, "sgd": 1}


def check_room(cfg: JobConfig, folder: Path, model_bytes: int, num_train: int,
               remaining_epochs: int, existing_checkpoints: int) -> None:
    """The disk holding a local run folder has room for the checkpoints still to come (at the
    peak two kept and one being written; those there already count) and the run's final files;
    else one line before anything is created. What still fills the disk later is caught where
    it is written (files.disk_errors)."""
    checkpoint = model_bytes * (1 + OPTIMIZER_BUFFERS.get(cfg.train.optimizer, 2)) + num_train * 12
    more = min(remaining_epochs, max(3 - min(existing_checkpoints, 2), 1)) if remaining_epochs else 0
    need = more * checkpoint + model_bytes + num_train * 12 + 2**20
    if shutil.disk_usage(existing_folder(folder)).free < need:
        raise UserError(f"the disk holding {folder} has {free_space(folder)}, and this run needs "
                        f"about {need / 2**20:.1f} MiB for its checkpoints and final files; free "
                        f"some space or choose another --storage-path")


def check_device(cfg: JobConfig) -> None:
    """An in-process run's device exists (Ray workers get theirs from Ray)."""
    if cfg.run.workers == 0:
        from ..training.trainer import resolve_device

        resolve_device(cfg.train.device)


def check_closing_evaluation(cfg: JobConfig) -> None:
    """The closing saliency evaluation (--eval-images N > 0) attributes with Captum: without
    it, say so now rather than after the last epoch (a GPU machine may lack it). A run in
    this process imports Captum now (half a second its evaluation pays anyway), so that no
    import runs between the last epoch and the evaluation, where a SIGTERM would land in it
    (a Ray run evaluates on its workers)."""
    if cfg.train.eval_images <= 0:
        return
    try:
        present = importlib.util.find_spec("captum") is not None
    except ImportError:
        present = False
    if not present:
        raise UserError("Captum is not installed here and the run ends with a saliency "
                        "evaluation on --eval-images test images; install it (pip install "
                        "captum) or pass --eval-images 0")
    if cfg.run.workers == 0:
        import_captum()


def _creatable_folder(path: Path, what: str) -> None:
    """`path` is a folder, or can be made one, that this process can write in."""
    existing = existing_folder(path)
    if not existing.is_dir():
        raise UserError(f"{what} {path} cannot be created: {existing} is a file, not a folder; "
                        f"choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path} cannot be written: {existing} is not writable; choose "
                        f"another path")


# How an object store refuses credentials that are missing, unknown or wrong: a HeadBucket answer
# has no body, so pyarrow names only the status (S3's error codes where a body says more).
REFUSED = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def _reachable_storage(uri: str, timeout_s: float = 20.0) -> None:
    """A remote storage URI answers (pyarrow, as Ray Train uses it): fail now, not after the
    first epoch."""
    import pyarrow.fs

    found: list[bool] = []

    def probe() -> None:
        fs, path = pyarrow.fs.FileSystem.from_uri(uri)
        # an object store answers a path in a bucket that does not exist with "not found":
        # the bucket itself is asked for
        found.append(fs.get_file_info(path.split("/", 1)[0]).type != pyarrow.fs.FileType.NotFound)

    shown = without_credentials(uri)
    problem = failure_within(probe, timeout_s)
    if problem and any(word in problem for word in REFUSED):
        raise UserError(f"--storage-path {shown} refused this machine's credentials ({problem}); "
                        f"give ones that may read and write it (AWS_ACCESS_KEY_ID and "
                        f"AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials) and run the same command "
                        f"again")
    if problem:
        raise UserError(f"--storage-path {shown} is not reachable ({problem}); check the URI, "
                        f"the network and the credentials")
    if not found[0]:
        raise UserError(f"--storage-path {shown}: its bucket {urlparse(uri).netloc.split('@')[-1]!r} "
                        f"does not exist; create it (or fix the URI) and run the same command again")


def check_storage(cfg: JobConfig) -> None:
    """A remote storage path answers, and is used by Ray workers only: before the run is looked
    for there. In process, Ray Train's checkpointing (which writes to any storage) is not there:
    a second way of putting checkpoints on remote storage is not worth a second code path."""
    storage, local = storage_location(cfg)
    if local is None:
        if cfg.run.workers == 0:
            raise UserError(f"--storage-path {without_credentials(storage)} is remote, and a run "
                            f"in this process (--workers 0) keeps its checkpoints in a local "
                            f"folder: give a folder, or train on Ray workers (--workers 1 or more)")
        _reachable_storage(storage)


def check_outputs(cfg: JobConfig, spec) -> None:
    """Where the run will write is usable: the run folder (for remote storage, its local cache:
    check_storage checked the rest), which this process can create or write, and
    --summary-json."""
    _creatable_folder(spec.folder.path, "the run folder")
    if cfg.run.summary_json:
        target = Path(cfg.run.summary_json).expanduser()
        if target.is_dir():
            raise UserError(f"--summary-json {target} is a folder; give the path of a file")
        _creatable_folder(target.parent, "--summary-json's folder")
