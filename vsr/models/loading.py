"""Loading models: the shipped weights by (name, scale), any checkpoint file, and their descriptors."""

from __future__ import annotations

import os
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn

from vsr.errors import UnsupportedModelError
from vsr.models.checkpoint import module_from_checkpoint, read_checkpoint
from vsr.models.descriptor import SRModel
from vsr.models.registry import ARCHS, BICUBIC, PREFERENCE, ArchSpec, build, check_arch_scale, get_arch, normalise_hparams


def model_names() -> list[str]:
    """Every single-frame registry entry, "bicubic" first."""
    return list(ARCHS)


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


def describe(spec: ArchSpec, module: nn.Module, scale: int, *, hparams: dict[str, Any], supports_half: bool,
             config: str | None, degradation: str | None = None) -> SRModel:
    """The descriptor of `module`, an `spec` architecture built with `hparams` at `scale`."""
    return SRModel(
        name=spec.name,
        scale=scale,
        module=module,
        supports_half=supports_half,
        config=config,
        frames=int(normalise_hparams(spec, hparams).get("frames", 1)),
        purpose=spec.purpose,
        degradation=degradation or spec.degradation,
        learned=spec.learned,
        size_multiple=spec.size_multiple,
        min_size=spec.min_size,
    )


def load_model(name: str, scale: int) -> SRModel:
    """The shipped model `name` at `scale` (a model that is not learned, such as bicubic, needs no weights).

    Raises UnsupportedModelError for an unknown name, an unsupported scale, or a scale
    for which no weights are shipped (the message lists what is available).
    """
    spec = get_arch(name)  # UnsupportedModelError for an unknown name
    if scale not in spec.scales and spec.learned:  # what ships is what a user can choose from
        shipped = [s for s in spec.scales if weights_path(name, s).is_file()]
        if shipped:
            raise UnsupportedModelError(f"{name} does not run at scale {scale}; shipped scales for {name}: "
                                        f"{', '.join(map(str, shipped))}")
    check_arch_scale(name, scale, spec.scales)
    if not spec.learned:
        return describe(spec, build(name, scale).eval(), scale, hparams={}, supports_half=spec.supports_half,
                        config=None)
    path = weights_path(name, scale)
    if not path.is_file():
        have = [s for s in spec.scales if weights_path(name, s).is_file()]
        what_to_do = "" if have else " (train one with `vsr train` and give its model.pt as the model)"
        raise UnsupportedModelError(
            f"no shipped weights for {name} at scale {scale}; shipped scales for {name}: "
            f"{', '.join(map(str, have)) or 'none'}{what_to_do}"
        )
    model = load_model_file(path)
    if (model.name, model.scale) != (spec.name, scale):
        raise UnsupportedModelError(f"the shipped file {path.name} holds {model.name} x{model.scale}, not {name} "
                                    f"x{scale}: the package's weights were replaced; reinstall vsr")
    return replace(model, name=name)


def load_model_file(path: str | os.PathLike[str]) -> SRModel:
    """A model from any checkpoint file written by `vsr train` (weights_only loading).

    The SRModel's name is the checkpoint's architecture name. Raises InputError for a
    missing or unreadable file, UnsupportedModelError for an unknown architecture or scale.
    """
    return model_from_checkpoint(read_checkpoint(path))


def model_from_checkpoint(ckpt: dict[str, Any]) -> SRModel:
    """The descriptor and float32 eval-mode CPU module of a checkpoint dict (see `vsr.models.checkpoint`).
    Raises UnsupportedModelError for an unknown architecture, scale or hyper-parameters."""
    module = module_from_checkpoint(ckpt)
    return describe(get_arch(str(ckpt["arch"])), module, int(ckpt["scale"]), hparams=ckpt["hparams"],
                    supports_half=bool(ckpt.get("supports_half", False)), config=ckpt.get("config"),
                    degradation=ckpt.get("degradation"))
