"""The device engines: batches of luma planes in, upscaled planes out, behind one submit/collect interface.

`submit` starts a batch and `collect` returns its result: on the CPU `submit` does the work
(`cpu.CpuEngine`); on CUDA it only enqueues it (`cuda.CudaEngine`). `bicubic.BicubicEngine` runs no
network, and `fusion.LearnedFusion` runs a multi-frame model on aligned windows.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from vsr.device import choose_device, choose_precision
from vsr.engine.bicubic import BicubicEngine
from vsr.engine.cpu import CpuEngine
from vsr.engine.cuda import CudaEngine
from vsr.engine.ensemble import EnsembleEngine
from vsr.errors import UnsupportedModelError
from vsr.models import SRModel


class LumaEngine(Protocol):
    scale: int
    device: str
    precision: str
    upscales_chroma: bool
    """True: `submit_frames`/`collect_frames` take and return every plane (the CUDA engine);
    False: the caller upscales chroma."""

    def submit(self, lumas: list[np.ndarray]) -> Any: ...

    def collect(self, handle: Any) -> list[np.ndarray]:
        """The upscaled planes of a submitted batch, valid until the second `submit` after this one."""
        ...


def make_engine(model: SRModel, device: str = "auto", precision: str = "auto", max_value: int = 255,
                ensemble: bool = False) -> LumaEngine:
    """Pick the engine for a loaded single-frame model on the requested device and precision: OpenCV's
    bicubic for a model that is not learned, else the CPU or CUDA engine; with `ensemble`, run on the
    8 orientations of every batch (`EnsembleEngine`; bicubic is the same in all of them, so it stays as it is).
    Raises VsrError for a multi-frame model, an unavailable device or an unsafe precision."""
    torch_device = choose_device(device)
    if not model.learned:
        return BicubicEngine(model.scale, max_value)
    if model.is_multi_frame:
        raise UnsupportedModelError(f"{model.name} is a multi-frame model: use it on a video with --mode multi")
    chosen = choose_precision(precision, torch_device, model.supports_half)
    if torch_device.type == "cuda":
        engine: LumaEngine = CudaEngine(model.module, model.scale, chosen, max_value, torch_device)
    else:
        engine = CpuEngine(model.module, model.scale, chosen, max_value)
    return EnsembleEngine(engine) if ensemble else engine


def default_batch_size(engine: LumaEngine, width: int, height: int) -> int:
    """On CUDA, what fits in half the free memory (at most 32); on the CPU about half a megapixel
    per batch, since batching there only saves per-call overhead."""
    inner = engine.inner if isinstance(engine, EnsembleEngine) else engine
    if isinstance(inner, CudaEngine):
        return inner.suggest_batch(width, height)
    return max(1, min(16, 500_000 // max(1, width * height)))
