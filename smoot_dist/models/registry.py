"""Model registry: "cnn" (the papers' MNIST CNN) and any timm model by name.

timm models get the dataset's channel count and class count, and (where the architecture
takes one, e.g. ViT/DeiT) its image size, so `deit_tiny_patch16_224` runs on 32x32 CIFAR
directly: with `model.patch_size: 4` it sees an 8x8 grid of patches (the CIFAR presets do
this). The alternative is `model.input_size: 224`, which resizes inputs in front of the model;
either way masking and saliency stay at the dataset's own resolution (P = 32*32 = 1024).
Pretrained weights come from a local file: timm adapts them (input channels, position
embeddings, patch size, classifier) as it does for its own checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..foundations.catalog import DatasetSpec
from ..foundations.errors import ConfigError, UserError
from .cnn import MnistCNN


class ResizeInput(nn.Module):
    """Bilinear resize in front of a model that wants another input size (differentiable,
    so saliency still lands on the dataset's own pixels)."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.model = model
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.model(x)


def _check_pretrained_file(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"pretrained weights file {p} does not exist; pass an existing file to "
                        f"--pretrained")
    return p


def _check_timm_weights_loaded(model: nn.Module, file: Path, name: str) -> None:
    """timm loads non-strictly when it adapts a checkpoint (e.g. a new classifier), so weights of
    another architecture would be skipped in silence: require that most tensors arrived as stored."""
    from timm.models import load_state_dict

    stored = load_state_dict(str(file))
    own = model.state_dict()
    same = sum(1 for k, v in own.items()
               if k in stored and stored[k].shape == v.shape and torch.equal(stored[k].to(v.dtype), v))
    if same < len(own) // 2:
        raise UserError(f"pretrained weights {file} do not fit model {name}: only {same} of "
                        f"{len(own)} tensors could be loaded; pass weights of this architecture")


def _create_timm(cfg: ModelConfig, spec: DatasetSpec, image_size: int) -> nn.Module:
    import timm

    if not timm.is_model(cfg.name):
        raise ConfigError(f"unknown model {cfg.name!r}; use 'cnn' or a timm model name "
                          f"(list them with: python -c \"import timm; print(timm.list_models())\")")
    kwargs: dict = {"in_chans": spec.channels, "num_classes": spec.num_classes}
    sized = dict(kwargs, img_size=image_size)
    if cfg.patch_size is not None:
        sized["patch_size"] = cfg.patch_size
    if cfg.pretrained:
        file = _check_pretrained_file(cfg.pretrained)
        for kw in (kwargs, sized):
            kw.update(pretrained=True, pretrained_cfg_overlay={"file": str(file)})
    try:
        try:
            model = timm.create_model(cfg.name, **sized)
        except TypeError as err:
            # CNN-style timm models take no img_size/patch_size; they adapt by pooling.
            if "img_size" not in str(err) and "patch_size" not in str(err):
                raise
            if cfg.patch_size is not None:
                raise ConfigError(f"model {cfg.name} has no patch size; drop --patch-size") from None
            model = timm.create_model(cfg.name, **kwargs)
    except (RuntimeError, ValueError, AssertionError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        what = "its pretrained weights do not fit" if cfg.pretrained else "it cannot be built"
        raise UserError(f"model {cfg.name} for {spec.title} ({spec.channels}x{image_size}x"
                        f"{image_size}): {what}: {first}") from None
    if cfg.pretrained:
        _check_timm_weights_loaded(model, file, cfg.name)
    return model


def _load_cnn_weights(model: nn.Module, path: str) -> None:
    file = _check_pretrained_file(path)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise UserError(f"cannot read pretrained weights {file} ({type(err).__name__}); "
                        f"pass a state_dict saved with torch.save") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0][:300]
        raise UserError(f"pretrained weights {file} do not fit the cnn: {first}") from None


def create_model(cfg: ModelConfig, spec: DatasetSpec) -> nn.Module:
    image_size = cfg.input_size or spec.image_size
    if cfg.name == "cnn":
        if cfg.patch_size is not None:
            raise ConfigError("the cnn has no patch size; drop --patch-size")
        model: nn.Module = MnistCNN(spec.channels, spec.num_classes, image_size)
        if cfg.pretrained:
            _load_cnn_weights(model, cfg.pretrained)
    else:
        model = _create_timm(cfg, spec, image_size)
    if image_size != spec.image_size:
        model = ResizeInput(model, image_size)
    return model
