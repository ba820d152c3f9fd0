"""Multi-frame super-resolution of a stream of LR luma planes, outside the video pipeline.

`WindowFusion` takes the planes one by one and gives back HR planes in the same order, each as
soon as its window t−k…t+k has arrived (or the stream or its shot has ended): the classical fusion
(`vsr.misr.MultiFrameSR`) of a single-frame engine's estimate, or a multi-frame model's network
(`LearnedFusion`) on the aligned window. Only what a future window still needs is held. `vsr eval
--mode multi` and the multi-frame upscalers of `vsr experiment` run it; the pipeline's stage
(`vsr.pipeline.window`) does the same with frames, context frames and diagnostics around it.
"""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import torch

from vsr.engine import LumaEngine
from vsr.engine.fusion import LearnedFusion
from vsr.misr import Diagnostics, MultiFrameSettings, MultiFrameSR

FUSION_PIXELS = 16_000_000
"""HR pixels × window entries fused in one call (bounds the fusion's memory, about 1 GB at this size)."""


def fusion_chunk(width: int, height: int, scale: int, frames: int) -> int:
    """References fused together: as many as fit in FUSION_PIXELS, at least one."""
    return max(1, FUSION_PIXELS // max(1, width * height * scale * scale * frames))


def engine_fuser(engine: LumaEngine | LearnedFusion, scale: int, frames: int, max_value: int = 255) -> MultiFrameSR:
    """A MultiFrameSR with a window of `frames` that fuses on the engine's device: on CUDA in half
    precision unless the engine runs in fp32 (the flow is estimated on the CPU either way)."""
    cuda = engine.device == "cuda"
    return MultiFrameSR(
        scale, MultiFrameSettings(frames=frames), max_value=max_value, device="cuda" if cuda else "cpu",
        compute_dtype=torch.float16 if cuda and engine.precision != "fp32" else None,
    )


def quantise(hr: torch.Tensor, max_value: int, dtype: type[np.integer]) -> list[np.ndarray]:
    """(N, 1, sH, sW) float in 0..max_value → N planes of `dtype`, rounded and clamped."""
    out = hr[:, 0].round().clamp_(0, max_value).cpu().numpy()
    return list(out.astype(dtype))


class WindowFusion:
    """Streaming multi-frame upscaling of (H, W) luma planes in 0..fuser.max_value.

    fuser: the MultiFrameSR that aligns and fuses (its window, device and precision). engine: a
    single-frame engine (classical fusion of its estimates), a `LearnedFusion`, or None when every
    `push` brings the frame's single-frame estimate. batch_size: references fused together (fewer
    at the end). diagnose: keep the `Diagnostics` of the first this many frames fused in
    `diagnostics`. Not thread-safe: one instance per stream.
    """

    def __init__(self, fuser: MultiFrameSR, engine: LumaEngine | LearnedFusion | None = None, *,
                 batch_size: int = 1, diagnose: int = 0) -> None:
        self.fuser, self.engine, self.batch_size = fuser, engine, max(1, batch_size)
        self.scale, self.max_value = fuser.scale, fuser.max_value
        self.dtype = np.uint8 if fuser.max_value <= 255 else np.uint16
        self.diagnose = diagnose
        self.diagnostics: list[Diagnostics] = []
        self.batches = 0
        self._pending: deque[int] = deque()  # pushed to be fused, not yet fused
        self._lows: dict[int, np.ndarray] = {}  # the pending frames' planes, for the single-frame engine
        self._estimates: dict[int, np.ndarray] = {}  # the pending frames' given single-frame estimates

    @classmethod
    def of(cls, scale: int, frames: int, engine: LumaEngine | LearnedFusion | None = None, *,
           settings: MultiFrameSettings | None = None, batch_size: int = 1) -> WindowFusion:
        """On the CPU, 8-bit planes, the default settings with a window of `frames`."""
        return cls(MultiFrameSR(scale, settings or MultiFrameSettings(frames=frames)), engine, batch_size=batch_size)

    @property
    def radius(self) -> int:
        return self.fuser.radius

    def push(self, plane: np.ndarray, estimate: np.ndarray | None = None, *, emit: bool = True) -> list[np.ndarray]:
        """Add the next LR plane (with its single-frame estimate when there is no engine); returns
        the HR planes that became ready, in order (possibly none). A frame pushed with `emit` False
        is a neighbour in the windows only (a segment's context), never fused itself."""
        if self.engine is None and estimate is None and emit:
            raise ValueError("without an engine, every frame needs its single-frame estimate")
        index = self.fuser.push(plane)
        if not emit:
            return []
        if estimate is not None:
            self._estimates[index] = estimate
        elif not isinstance(self.engine, LearnedFusion):
            self._lows[index] = plane
        self._pending.append(index)
        return self._drain(final=False)

    def finish(self) -> list[np.ndarray]:
        """No more frames: the HR planes of every frame still pending, in order."""
        self.fuser.finish()
        out = self._drain(final=True)
        assert not self._pending, "every frame is ready after finish"
        return out

    def _drain(self, final: bool) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        while self._pending and (final or len(self._pending) >= self.batch_size):
            ready = list(itertools.takewhile(self.fuser.ready, itertools.islice(self._pending, self.batch_size)))
            if not ready or (not final and len(ready) < self.batch_size):
                break
            for _ in ready:
                self._pending.popleft()
            out += self._fuse(ready)
            self.fuser.release(self._pending[0] if self._pending else self.fuser.count)
        return out

    def _fuse(self, indices: list[int]) -> list[np.ndarray]:
        learned = isinstance(self.engine, LearnedFusion)
        estimates = [self._estimates.pop(i) for i in indices if i in self._estimates]
        if not learned and len(estimates) < len(indices):
            assert self.engine is not None
            estimates = self.engine.collect(self.engine.submit([self._lows.pop(i) for i in indices]))
        height, width = self.fuser.plane(indices[0]).shape
        chunk = fusion_chunk(width, height, self.scale, self.fuser.settings.frames)
        out: list[np.ndarray] = []
        for start in range(0, len(indices), chunk):
            part = indices[start:start + chunk]
            diagnostics: list[Diagnostics] | None = [] if len(self.diagnostics) < self.diagnose else None
            if learned:
                hr = self.engine.fuse(self.fuser, part)
                if diagnostics is not None:
                    diagnostics += self.fuser.diagnostics(part)
            else:
                hr = self.fuser.fuse(part, estimates[start:start + chunk], diagnostics=diagnostics)
            self.diagnostics += (diagnostics or [])[: self.diagnose - len(self.diagnostics)]
            out += quantise(hr, self.max_value, self.dtype)
        self.batches += 1
        return out
