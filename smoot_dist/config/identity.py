"""What a run's recorded config says about the model it trains, the seed aside.

Runs that agree on it are replicates: a table's mean ± std is over them. Runs that differ in it
(beta 0.9 beside beta 0.95, 5 epochs beside 10) are different settings, and averaging them as if
they were seeds would state a spread that no single setting has. Everything that only says *how*
or *where* a run trained (workers, storage, tracking, the device, data loading, compilation,
the closing evaluation's image count) is left out, and so are the method options a method does
not read (method/step.py: traditional reads none of them, the random-mask ablation no saliency).
"""

from __future__ import annotations

from typing import Any

# The sections that define the trained model; run, tracking and the jobs' own sections do not.
TRAINING_SECTIONS = ("data", "model", "method", "train")

# Keys of those sections that change how a run trains, not what it learns.
OPERATIONAL = frozenset({
    "data.root", "data.loader", "data.shuffle_buffer", "data.data_cpus",
    "train.seed", "train.device", "train.eval_batch_size", "train.eval_images",
    "train.compile", "train.channels_last",
})

# The method options each method reads (method/step.py); SMOOT reads every one but RRR's.
_SGT_OPTIONS = ("k0", "lambda", "fill", "saliency_abs")  # YAML names (lam is "lambda")
METHOD_OPTIONS = {"traditional": (), "random_mask": ("k0", "lambda", "fill"), "sgt": _SGT_OPTIONS,
                  "smoot": (*_SGT_OPTIONS, "k_min", "k_max", "alpha", "beta", "n"),
                  "rrr": ("rrr_lambda",)}


def training_settings(config: dict[str, Any]) -> dict[str, Any]:
    """`section.key` -> value of the settings in a recorded config (JobConfig.to_dict()) that
    define the trained model, the seed excluded."""
    method = (config.get("method") or {}).get("name")
    used = METHOD_OPTIONS.get(method)
    out: dict[str, Any] = {}
    for section in TRAINING_SECTIONS:
        for key, value in sorted((config.get(section) or {}).items()):
            name = f"{section}.{key}"
            if name in OPERATIONAL:
                continue
            if section == "method" and key != "name" and used is not None and key not in used:
                continue
            out[name] = value
    return out


def differing(settings: list[dict[str, Any]]) -> list[str]:
    """The keys whose value is not the same in every one of `settings` (a key one lacks counts
    as differing)."""
    keys = sorted({k for s in settings for k in s})
    return [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]


def settings_label(settings: dict[str, Any], keys: list[str]) -> str:
    """`method.beta=0.9, train.epochs=5`: the values of `keys`, to tell rows apart (a float
    to 4 significant digits: a sweep's 0.5273923374642908 reads 0.5274)."""
    def shown(value: Any) -> str:
        if isinstance(value, str):
            return repr(value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{k}={shown(settings.get(k))}" for k in keys)
