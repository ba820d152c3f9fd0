"""The upscalers of an experiment: "bicubic" (OpenCV, the `vsr upscale -m bicubic` engine),
"lanczos" (OpenCV Lanczos-4) and any model `vsr upscale -m` takes, run by the same engines as
`vsr upscale` (vsr.engine.make_engine: the fused CPU graph, bf16 where the model is half-safe,
or CUDA). A model name ending in "+ensemble" runs self-ensembled, as `vsr upscale --ensemble`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsr.device import choose_device, choose_precision
from vsr.engine import LumaEngine, default_batch_size, make_engine
from vsr.errors import UnsupportedModelError
from vsr.files import file_sha256
from vsr.models import resolve
from vsr.models.loading import weights_path
from vsr.models.resolve import is_weight_file

log = logging.getLogger(__name__)

LANCZOS = "lanczos"
DIRECT = "direct"
"""The upscaler name of the scale-1 rows: the direct encode, no upscaling."""
ENSEMBLE_SUFFIX = "+ensemble"
"""Appended to a model's name: the model run on the 8 flips and rotations of every frame, averaged."""


class LanczosEngine:
    """OpenCV's Lanczos-4 (8x8 taps) on 8-bit planes, behind the engine interface."""

    device = "cpu"
    precision = "uint"
    upscales_chroma = False

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def submit(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        return [cv2.resize(y, (y.shape[1] * self.scale, y.shape[0] * self.scale), interpolation=cv2.INTER_LANCZOS4)
                for y in lumas]

    def collect(self, handle: list[np.ndarray]) -> list[np.ndarray]:
        return handle


@dataclass
class Upscaler:
    """One upscaler at one scale: `run` takes (h, w) uint8 luma planes and returns (s·h, s·w) ones.

    name: as the user gave it; identity: what its results depend on (the weights' sha256, the
    precision it runs in), part of its points' cache keys."""

    name: str
    scale: int
    engine: LumaEngine
    batch_size: int
    identity: dict[str, str]

    def run(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for first in range(0, len(lumas), self.batch_size):
            out += [np.array(y, copy=True) for y in self.engine.collect(self.engine.submit(lumas[first:first + self.batch_size]))]
        return out


def split_ensemble(name: str) -> tuple[str, bool]:
    """The model behind upscaler `name` and whether it runs self-ensembled ("residual+ensemble")."""
    if name.endswith(ENSEMBLE_SUFFIX):
        return name[: -len(ENSEMBLE_SUFFIX)], True
    return name, False


def model_file(name: str, scale: int) -> Path | None:
    """The weight file behind `name` at `scale` (a shipped model's or the named file), or None."""
    if is_weight_file(name):
        return Path(name)
    path = weights_path(name, scale)
    return path if path.is_file() else None


def supports_scale(name: str, scale: int) -> bool:
    """Whether `name` can upscale by `scale`. Raises UnsupportedModelError for an unknown name or a
    multi-frame model or an ensembled one that is not learned, InputError for a weight file that is
    missing or unreadable."""
    name, ensemble = split_ensemble(name)
    if name == LANCZOS and not ensemble:
        return True
    try:
        model = resolve(name, scale) if name != LANCZOS else None
    except UnsupportedModelError as error:
        message = str(error)
        if message.startswith("unknown model"):  # the name, not the scale
            models = message.partition("valid models: ")[2]
            raise UnsupportedModelError(
                f"unknown upscaler {name!r}; use lanczos, a weight file or a model: {models}"
            ) from None
        return False
    if model is not None and model.is_multi_frame:
        raise UnsupportedModelError(f"{name} is a multi-frame model; experiments run single-frame upscalers")
    if ensemble and (model is None or not model.learned):
        raise UnsupportedModelError(f"{name}{ENSEMBLE_SUFFIX}: {name} is the same in every orientation; "
                                    "+ensemble is for learned models")
    return True


def cleans(name: str) -> bool:
    """Whether `name` has an x1 (clean-up) model, which then runs on the scale-1 encodes too."""
    return split_ensemble(name)[0] != LANCZOS and supports_scale(name, 1)


def upscaler_identity(name: str, scale: int, device: str = "auto", precision: str = "auto") -> dict[str, str]:
    """What the results of upscaler `name` at `scale` depend on, without building its engine: the
    kind, the model, its weight file's sha256, and the device and precision it would run in (the
    choice vsr.engine.make_engine makes), and "ensemble" for an ensembled one. Raises as `make_upscaler`."""
    name, ensemble = split_ensemble(name)
    if name == LANCZOS:
        return {"kind": "opencv-lanczos4"}
    model = resolve(name, scale)
    if not model.learned:
        return {"kind": "opencv-bicubic"}
    torch_device = choose_device(device)
    path = model_file(name, scale)
    identity = {
        "kind": "model",
        "model": model.name,
        "weights_sha256": file_sha256(path) if path is not None else "",
        "device": torch_device.type,
        "precision": choose_precision(precision, torch_device, model.supports_half),
    }
    return {**identity, "ensemble": "8 orientations"} if ensemble else identity


def make_upscaler(name: str, scale: int, width: int, height: int, device: str = "auto",
                  precision: str = "auto") -> Upscaler:
    """The upscaler `name` for (width, height) luma planes at `scale`, on `device` in `precision`
    (as `vsr upscale`). Raises UnsupportedModelError / InputError / VsrError as vsr.models.resolve
    and vsr.engine.make_engine do."""
    identity = upscaler_identity(name, scale, device, precision)
    if name == LANCZOS:
        return Upscaler(name, scale, LanczosEngine(scale), 8, identity)
    model, ensemble = split_ensemble(name)
    engine = make_engine(resolve(model, scale), device, precision, 255, ensemble=ensemble)
    return Upscaler(name, scale, engine, max(1, default_batch_size(engine, width, height)), identity)
