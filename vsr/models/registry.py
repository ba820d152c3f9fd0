"""One explicit registry: architecture name -> builder, supported scales, default hyper-parameters,
and what a model of it is (purpose, degradation, multi-frame window, size requirements).

Adding an architecture means adding one entry here; the same tests then run for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from vsr.errors import UnsupportedModelError
from vsr.models import bicubic, espcn, fsrcnn, multiframe, residual, srcnn
from vsr.tomlfile import KIND_NAMES, is_kind

SUPER_RESOLUTION = "super-resolution"
RESTORATION = "restoration"
PURPOSES = (SUPER_RESOLUTION, RESTORATION)
BI = "bicubic downscale (BI)"
"""The degradation the shipped models are trained for: MATLAB-style antialiased bicubic downscale
(`vsr.resample.matlab.imresize`), as in the benchmark protocol."""
NOT_TRAINED = "none (not trained)"
DAMAGED = "blur, noise, JPEG and video codecs (x264, MPEG-2, MPEG-4) around a downscale; a quarter clean BI"
"""The degradation the restoration models are trained for (`vsr.degrade`, configs/train/restore*.toml)."""
CODEC = "libx264 at CRF 18-40 after a bicubic downscale (BI), as a streaming ladder's rungs; a fifth clean BI"
"""The degradation the streaming models are trained for (configs/train/stream*.toml)."""


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture.

    name: registry key; builder(scale, **hparams) -> nn.Module; scales: supported scales;
    defaults: default hyper-parameters (a multi-frame architecture has a "frames" one, its window);
    kind: "fast", "quality", "reference", "baseline" or "multi-frame".
    purpose: SUPER_RESOLUTION or RESTORATION; degradation: what its models are trained for
    (a checkpoint may name its own).
    learned: False for a fixed interpolation, which has no weights and needs no checkpoint;
    supports_half then says whether it is half-safe (a checkpoint says so for itself).
    size_multiple, min_size: the input's sides must be multiples of `size_multiple` and at least
    `min_size` low-resolution pixels (the architectures here take any size).
    """

    name: str
    builder: Callable[..., nn.Module]
    scales: tuple[int, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    kind: str = "fast"
    description: str = ""
    purpose: str = SUPER_RESOLUTION
    degradation: str = BI
    learned: bool = True
    supports_half: bool = False
    size_multiple: int = 1
    min_size: int = 1

    @property
    def multi_frame(self) -> bool:
        """True for an architecture that takes an aligned window of frames, not one luma plane."""
        return "frames" in self.defaults


ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            "bicubic",
            bicubic.Bicubic,
            bicubic.SCALES,
            kind="baseline",
            description="torch bicubic interpolation (OpenCV's in the video engine); no weights",
            degradation=NOT_TRAINED,
            learned=False,
            supports_half=True,
        ),
        ArchSpec(
            "residual",
            residual.ResidualSR,
            residual.SCALES,
            {"channels": 32, "blocks": 8, "res_scale": 1.0},
            kind="quality",
            description="EDSR/SRResNet-style residual net, global bicubic skip, pixel-shuffle upsampler",
        ),
        ArchSpec(
            "espcn",
            espcn.ESPCN,
            espcn.SCALES,
            {"features": (64, 32), "activation": "relu", "global_skip": True},
            kind="fast",
            description="ESPCN: LR feature convolutions + sub-pixel convolution",
        ),
        ArchSpec(
            "restore",
            residual.ResidualSR,
            residual.CLEANUP_SCALES,
            {"channels": 48, "blocks": 12, "res_scale": 1.0},
            kind="quality",
            description="the residual net trained to remove compression artefacts, noise and blur while it upscales",
            purpose=RESTORATION,
            degradation=DAMAGED,
        ),
        ArchSpec(
            "restore-fast",
            espcn.ESPCN,
            espcn.SCALES,
            {"features": (64, 32), "activation": "relu", "global_skip": True},
            kind="fast",
            description="ESPCN trained to remove compression artefacts, noise and blur while it upscales",
            purpose=RESTORATION,
            degradation=DAMAGED,
        ),
        ArchSpec(
            "stream",
            residual.ResidualSR,
            residual.CLEANUP_SCALES,
            {"channels": 48, "blocks": 12, "res_scale": 1.0},
            kind="quality",
            description="the residual net trained on compressed rungs: removes codec artefacts, keeps detail",
            degradation=CODEC,
        ),
        ArchSpec(
            "fsrcnn",
            fsrcnn.FSRCNN,
            fsrcnn.SCALES,
            {"d": 56, "s": 12, "m": 4, "upsampler": "pixelshuffle", "global_skip": True},
            kind="fast",
            description="FSRCNN: extract, shrink, map, expand, upsample (deconv or pixel shuffle)",
        ),
        ArchSpec(
            "srcnn",
            srcnn.SRCNN,
            srcnn.SCALES,
            {"features": (64, 32), "kernels": (9, 5, 5), "global_skip": True},
            kind="reference",
            description="SRCNN: bicubic first, three convolutions at high resolution",
        ),
    )
}

# Multi-frame models take an aligned window, not a luma plane (see vsr.models.multiframe and
# vsr.engine.fusion): they are loaded and trained like the others but are not single-frame choices.
# The first one shipped at a scale is the learned fusion that `vsr eval --mode multi` reports.
MULTI_FRAME_ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            "multiframe_refine",
            multiframe.RefiningMultiFrame,
            multiframe.SCALES,
            {"frames": 5, "channels": 48, "blocks": 8, "res_scale": 1.0, "single": "residual"},
            kind="multi-frame",
            description="learned correction of the classical fusion: aligned window + its back-projected result",
        ),
        ArchSpec(
            "stream_refine",
            multiframe.RefiningMultiFrame,
            multiframe.SCALES,
            {"frames": 5, "channels": 48, "blocks": 12, "res_scale": 1.0, "single": "stream"},
            kind="multi-frame",
            description="the learned correction of the classical fusion, trained on x264-compressed windows after `stream`",
            degradation=CODEC,
        ),
        ArchSpec(
            "multiframe",
            multiframe.MultiFrameResidual,
            multiframe.SCALES,
            {"frames": 5, "channels": 48, "blocks": 8, "res_scale": 1.0},
            kind="multi-frame",
            description="learned fusion: aligned window stacked into the residual upscaler (VESPCN-style)",
        ),
    )
}

BICUBIC = "bicubic"
"""The model used when no weights are shipped for a scale."""

# Which shipped model is preferred, best first (used by default_model_name).
PREFERENCE = ("residual", "espcn", "fsrcnn", "srcnn")


def get_arch(name: str) -> ArchSpec:
    """The registry entry `name` (single- or multi-frame). Raises UnsupportedModelError listing the valid names."""
    try:
        return ARCHS[name] if name in ARCHS else MULTI_FRAME_ARCHS[name]
    except KeyError:
        valid = ", ".join([*ARCHS, *MULTI_FRAME_ARCHS])
        raise UnsupportedModelError(f"unknown model {name!r}; valid models: {valid}") from None


def normalise_hparams(spec: ArchSpec, hparams: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with `hparams`; unknown keys raise ValueError listing the valid ones.

    Lists are turned into tuples so that a checkpoint's hyper-parameters (saved as lists)
    rebuild the same module.
    """
    hparams = dict(hparams or {})
    unknown = sorted(set(hparams) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"unknown hyper-parameter(s) for {spec.name}: {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(spec.defaults))}"
        )
    for key, value in hparams.items():
        if not _like(value, spec.defaults[key]):
            raise ValueError(f"hparams.{key} must be {_kind_of(spec.defaults[key])}, got {value!r}")
    merged = {**spec.defaults, **hparams}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}


def _like(value: Any, default: Any) -> bool:
    """Whether `value` is of the kind of `default`: a list as long, of the same kinds; a number
    where a float is (a whole one where an int is); never a bool for a number."""
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple)) and len(value) == len(default) and all(map(_like, value, default))
    return is_kind(value, type(default))


def _kind_of(default: Any) -> str:
    if isinstance(default, tuple):
        return f"a list of {len(default)} like {list(default)}"
    name = KIND_NAMES.get(type(default), (type(default).__name__,))[0]
    return name if isinstance(default, bool) else f"{name} like {default!r}"


def build(name: str, scale: int, hparams: dict[str, Any] | None = None) -> nn.Module:
    """A freshly initialised module for architecture `name` at `scale`.

    Raises UnsupportedModelError for an unknown name or scale, ValueError for unknown hyper-parameters.
    """
    spec = get_arch(name)
    check_arch_scale(name, scale, spec.scales)
    return spec.builder(scale, **normalise_hparams(spec, hparams))


def check_arch_scale(name: str, scale: int, scales: tuple[int, ...]) -> None:
    """UnsupportedModelError naming the bad scale and listing the supported ones."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in scales:
        raise UnsupportedModelError(
            f"model {name!r} does not support scale {scale!r}; supported scales: {', '.join(map(str, scales))}"
        )
