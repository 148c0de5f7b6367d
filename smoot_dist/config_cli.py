"""Command-line flags for the config, shared by every job (train, reproduce, sweeps).

Flags default to None, meaning "not given": only the flags a user passes override the
layered config (defaults < dataset preset < --config file < flags).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .config import FILLS, METHODS, OPTIMIZERS, ExperimentConfig, build_config

# flag -> (section, key, type, help)
CONFIG_FLAGS: dict[str, tuple[str, str, Any, str]] = {
    "--dataset": ("data", "dataset", str, "mnist | fashion_mnist | cifar10 | cifar100"),
    "--data-root": ("data", "root", str, "dataset directory (default: $SMOOT_DATA_DIR or ~/.cache/smoot_dist/data)"),
    "--train-subset": ("data", "train_subset", int, "train on N samples (deterministic, class-balanced)"),
    "--test-subset": ("data", "test_subset", int, "evaluate on N test samples (deterministic, class-balanced)"),
    "--model": ("model", "name", str, "'cnn' or a timm model name, e.g. deit_tiny_patch16_224"),
    "--pretrained": ("model", "pretrained", str, "local file with pretrained weights"),
    "--input-size": ("model", "input_size", int, "resize inputs to this size in front of the model"),
    "--patch-size": ("model", "patch_size", int, "patch size for ViT-style timm models"),
    "--method": ("method", "name", str, " | ".join(METHODS)),
    "--k0": ("method", "k0", float, "initial masking fraction (SGT: the fixed one)"),
    "--k-min": ("method", "k_min", float, "SMOOT: lower bound of k"),
    "--k-max": ("method", "k_max", float, "SMOOT: upper bound of k"),
    "--alpha": ("method", "alpha", float, "SMOOT: step of k per unit of probability change"),
    "--beta": ("method", "beta", float, "SMOOT: weight of the label's change vs the runner-ups'"),
    "--top-n": ("method", "n", int, "SMOOT: n of top-n (the label plus n-1 runner-up classes)"),
    "--lambda": ("method", "lam", float, "weight of the KL term"),
    "--fill": ("method", "fill", str, " | ".join(FILLS)),
    "--epochs": ("train", "epochs", int, "training epochs"),
    "--batch-size": ("train", "batch_size", int, "global batch size (split over workers)"),
    "--optimizer": ("train", "optimizer", str, " | ".join(OPTIMIZERS)),
    "--lr": ("train", "lr", float, "learning rate"),
    "--seed": ("train", "seed", int, "random seed"),
    "--device": ("train", "device", str, "auto | cpu | cuda"),
    "--eval-batch-size": ("train", "eval_batch_size", int, "batch size for evaluation"),
    "--precision": ("train", "precision", str, "fp32 | bf16 (autocast)"),
}

# on/off switches: flag -> (section, key, help); absent means "as the config says"
SWITCHES: dict[str, tuple[str, str, str]] = {
    "--saliency-abs": ("method", "saliency_abs", "rank pixels by |gradient| (default: signed gradient)"),
    "--compile": ("train", "compile", "torch.compile the model (falls back to eager on failure)"),
    "--fuse-branches": ("train", "fuse_branches", "one forward over the clean and masked batch"),
    "--channels-last": ("train", "channels_last", "channels_last memory format"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2, as argparse does)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.yaml",
                        help="YAML config (sections data/model/method/train); flags override it")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag, (section, _key, typ, help_text) in CONFIG_FLAGS.items():
        group = groups.setdefault(section, parser.add_argument_group(section))
        group.add_argument(flag, type=typ, default=None, help=help_text,
                           metavar=flag.lstrip("-").upper().replace("-", "_"))
    for flag, (section, _key, help_text) in SWITCHES.items():
        groups[section].add_argument(flag, action="store_true", default=None, help=help_text)


def overrides_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for flag, (section, key, _typ, _help) in CONFIG_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            out.setdefault(section, {})[key] = value
    for flag, (section, key, _help) in SWITCHES.items():
        if getattr(args, flag.lstrip("-").replace("-", "_"), None):
            out.setdefault(section, {})[key] = True
    return out


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    return build_config(args.config, overrides_from_args(args))
