"""Super-resolution models: a registry of architectures and the weights shipped with the package.

    from vsr.models import load_model, model_names, default_model_name, SRModel
    m = load_model("residual", 4)       # an SRModel; m.module maps (N,1,H,W) luma in [0,1]
                                        # to (N,1,4H,4W), not clamped
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from torch import nn

from vsr.errors import UnsupportedModelError
from vsr.models.checkpoint import checkpoint_dict, module_from_checkpoint, read_checkpoint, save_checkpoint
from vsr.models.registry import ARCHS, BICUBIC, PREFERENCE, build, check_scale, get_arch

__all__ = [
    "SRModel",
    "load_model",
    "load_model_file",
    "model_names",
    "default_model_name",
    "shipped_models",
    "weights_path",
    "build",
    "checkpoint_dict",
    "save_checkpoint",
    "read_checkpoint",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SRModel:
    """A ready-to-run super-resolution model.

    module: eval mode, float32, on CPU. Input (N, 1, H, W) float32 luma in [0, 1]
    (BT.601 Y / 255); output (N, 1, scale*H, scale*W), not clamped.
    supports_half: fp16/bf16 inference keeps outputs within one 8-bit level of fp32.
    config: the training config the weights were made with (None for bicubic).
    """

    name: str
    scale: int
    module: nn.Module
    supports_half: bool
    config: str | None


def model_names() -> list[str]:
    """"bicubic" and every registered architecture name."""
    return [BICUBIC, *ARCHS]


def weights_path(name: str, scale: int) -> Path:
    """Where the shipped weights for (name, scale) live inside the package (the file may not exist)."""
    return Path(str(resources.files("vsr.models").joinpath("weights", f"{name}_x{scale}.pt")))


def shipped_models() -> list[tuple[str, int]]:
    """(name, scale) of every weight file shipped in the package."""
    return [(n, s) for n, spec in ARCHS.items() for s in spec.scales if weights_path(n, s).is_file()]


def default_model_name(scale: int) -> str:
    """The best shipped model at `scale` (the quality model when it is shipped), else "bicubic"."""
    for name in PREFERENCE:
        if name in ARCHS and scale in ARCHS[name].scales and weights_path(name, scale).is_file():
            return name
    return BICUBIC


def load_model(name: str, scale: int) -> SRModel:
    """The shipped model `name` at `scale`.

    Raises UnsupportedModelError for an unknown name, an unsupported scale, or a scale
    for which no weights are shipped (the message lists what is available).
    """
    if name == BICUBIC:
        return SRModel(BICUBIC, scale, build(BICUBIC, scale).eval(), True, None)
    spec = get_arch(name)  # UnsupportedModelError for an unknown name
    check_scale(name, scale, spec.scales)
    path = weights_path(name, scale)
    if not path.is_file():
        have = [s for s in spec.scales if weights_path(name, s).is_file()]
        raise UnsupportedModelError(
            f"no shipped weights for {name} at scale {scale}; shipped scales for {name}: "
            f"{', '.join(map(str, have)) or 'none'}"
        )
    model = load_model_file(path)
    return SRModel(name, scale, model.module, model.supports_half, model.config)


def load_model_file(path: str | os.PathLike[str]) -> SRModel:
    """A model from any checkpoint file written by `vsr train` (weights_only loading).

    The SRModel's name is the checkpoint's architecture name. Raises InputError for a
    missing or unreadable file, UnsupportedModelError for an unknown architecture or scale.
    """
    ckpt = read_checkpoint(path)
    module = module_from_checkpoint(ckpt)
    return SRModel(
        name=str(ckpt["arch"]),
        scale=int(ckpt["scale"]),
        module=module,
        supports_half=bool(ckpt.get("supports_half", False)),
        config=ckpt.get("config"),
    )
