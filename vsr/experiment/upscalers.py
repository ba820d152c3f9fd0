"""The upscalers of an experiment: "bicubic" (OpenCV, the `vsr upscale -m bicubic` engine),
"lanczos" (OpenCV Lanczos-4) and any model `vsr upscale -m` takes, run by the same engines as
`vsr upscale` (vsr.engine.make_engine: the fused CPU graph, bf16 where the model is half-safe,
or CUDA). Flags after the name: "+ensemble" runs a model self-ensembled (`vsr upscale --ensemble`),
"+multi" fuses each frame with its aligned neighbours (`--mode multi`, classical fusion of the
upscaler's estimates); a multi-frame model (learned fusion) is multi-frame by itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from vsr.device import choose_device, choose_precision
from vsr.engine import LumaEngine, default_batch_size, make_engine
from vsr.engine.fusion import LearnedFusion
from vsr.engine.windows import WindowFusion, engine_fuser
from vsr.errors import UnsupportedModelError
from vsr.files import file_sha256
from vsr.misr import MultiFrameSettings
from vsr.models import SRModel, resolve
from vsr.models.resolve import model_file

log = logging.getLogger(__name__)

LANCZOS = "lanczos"
DIRECT = "direct"
"""The upscaler name of the scale-1 rows: the direct encode, no upscaling."""
FLAGS = ("ensemble", "multi")
"""What may follow an upscaler's name after "+", in any order: "residual+multi+ensemble"."""
WINDOW = MultiFrameSettings().frames
"""The window of "+multi" (the `vsr upscale --mode multi` default)."""


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


@dataclass(frozen=True)
class UpscalerName:
    """An upscaler's name split: the model (or bicubic / lanczos) and its flags."""

    model: str
    ensemble: bool = False
    multi: bool = False

    @classmethod
    def parse(cls, name: str) -> UpscalerName:
        flags: set[str] = set()
        model = name
        while "+" in model and model.rpartition("+")[2] in FLAGS:
            model, _, flag = model.rpartition("+")
            flags.add(flag)
        return cls(model, "ensemble" in flags, "multi" in flags)


@dataclass
class Upscaler:
    """One upscaler at one scale, over one stream of (h, w) uint8 luma planes at a time: `feed`
    returns the (s·h, s·w) planes that are ready, in order (all of them for a single-frame
    upscaler; a multi-frame one waits for each frame's later neighbours), `flush` the rest at the
    end of the stream, and the next `feed` starts a new stream.

    name: as the user gave it; identity: what its results depend on (the weights' sha256, the
    precision it runs in, the multi-frame window), part of its points' cache keys. radius: the
    neighbours on each side that a frame's result depends on (0 for a single-frame upscaler)."""

    name: str
    scale: int
    engine: LumaEngine | LearnedFusion
    batch_size: int
    identity: dict[str, str]
    frames: int = 1
    _windows: WindowFusion | None = field(default=None, repr=False)

    @property
    def radius(self) -> int:
        return self.frames // 2

    def feed(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        if self.frames == 1:
            assert not isinstance(self.engine, LearnedFusion)
            out: list[np.ndarray] = []
            for first in range(0, len(lumas), self.batch_size):
                batch = self.engine.collect(self.engine.submit(lumas[first:first + self.batch_size]))
                out += [np.array(y, copy=True) for y in batch]
            return out
        if self._windows is None:
            self._windows = WindowFusion(engine_fuser(self.engine, self.scale, self.frames), self.engine,
                                         batch_size=self.batch_size)
        return [y for plane in lumas for y in self._windows.push(plane)]

    def flush(self) -> list[np.ndarray]:
        windows, self._windows = self._windows, None
        return windows.finish() if windows is not None else []


def supports_scale(name: str, scale: int) -> bool:
    """Whether `name` can upscale by `scale`. Raises UnsupportedModelError for an unknown name, a
    flag that does not fit the model (+ensemble on bicubic or lanczos, +multi on a multi-frame
    model), InputError for a weight file that is missing or unreadable."""
    parsed = UpscalerName.parse(name)
    if parsed.model == LANCZOS:
        model = None
    else:
        try:
            model = resolve(parsed.model, scale)
        except UnsupportedModelError as error:
            message = str(error)
            if message.startswith("unknown model"):  # the name, not the scale
                models = message.partition("valid models: ")[2]
                raise UnsupportedModelError(
                    f"unknown upscaler {parsed.model!r}; use lanczos, a weight file or a model: {models}"
                ) from None
            return False
    if parsed.ensemble and (model is None or not model.learned):
        raise UnsupportedModelError(f"{name}: {parsed.model} is the same in every orientation; "
                                    "+ensemble is for learned models")
    if parsed.multi and model is not None and model.is_multi_frame:
        raise UnsupportedModelError(f"{name}: {parsed.model} is a multi-frame model already; leave out +multi")
    return scale > 1 or not (parsed.multi or (model is not None and model.is_multi_frame))


def cleans(name: str) -> bool:
    """Whether `name` has an x1 (clean-up) model, which then runs on the scale-1 encodes too."""
    return UpscalerName.parse(name).model != LANCZOS and supports_scale(name, 1)


def upscaler_identity(name: str, scale: int, device: str = "auto", precision: str = "auto") -> dict[str, str]:
    """What the results of upscaler `name` at `scale` depend on, without building its engine: the
    kind, the model, its weight file's sha256, the device and precision it would run in (the
    choice vsr.engine.make_engine makes), "ensemble" and "multi_frame" where they apply (and for a
    refine model, the sha256 of the single-frame model it runs). Raises as `make_upscaler`."""
    parsed = UpscalerName.parse(name)
    model = None if parsed.model == LANCZOS else resolve(parsed.model, scale)
    return _identity(parsed, model, scale, device, precision)


def _identity(parsed: UpscalerName, model: SRModel | None, scale: int, device: str, precision: str) -> dict[str, str]:
    """`upscaler_identity` of an already parsed name and resolved model (None for lanczos)."""
    identity = {"kind": "opencv-lanczos4" if model is None else "opencv-bicubic"}
    if model is not None and model.learned:
        torch_device = choose_device(device)
        path = model_file(parsed.model, scale)
        identity = {
            "kind": "model",
            "model": model.name,
            "weights_sha256": file_sha256(path) if path is not None else "",
            "device": torch_device.type,
            "precision": choose_precision(precision, torch_device, model.supports_half),
        }
    if parsed.ensemble:
        identity["ensemble"] = "8 orientations"
    if model is not None and model.is_multi_frame:
        identity["multi_frame"] = f"learned fusion of {model.frames} frames"
        single = getattr(model.module, "single", None) if getattr(model.module, "refine", False) else None
        single_path = model_file(single, scale) if single else None
        if single_path is not None:  # a refine model corrects the fusion of this model's estimates
            identity["single_weights_sha256"] = file_sha256(single_path)
    elif parsed.multi:
        identity["multi_frame"] = f"classical fusion of {WINDOW} frames"
    return identity


def make_upscaler(name: str, scale: int, width: int, height: int, device: str = "auto",
                  precision: str = "auto") -> Upscaler:
    """The upscaler `name` for (width, height) luma planes at `scale`, on `device` in `precision`
    (as `vsr upscale`). Raises UnsupportedModelError / InputError / VsrError as vsr.models.resolve
    and vsr.engine.make_engine do."""
    parsed = UpscalerName.parse(name)
    frames = WINDOW if parsed.multi else 1
    if parsed.model == LANCZOS:
        return Upscaler(name, scale, LanczosEngine(scale), 8, _identity(parsed, None, scale, device, precision), frames)
    model = resolve(parsed.model, scale)
    identity = _identity(parsed, model, scale, device, precision)
    if model.is_multi_frame:
        fusion = LearnedFusion(model, device, precision, parsed.ensemble)
        return Upscaler(name, scale, fusion, 1, identity, model.frames)
    engine = make_engine(model, device, precision, 255, ensemble=parsed.ensemble)
    return Upscaler(name, scale, engine, max(1, default_batch_size(engine, width, height)), identity, frames)
