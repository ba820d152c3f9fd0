"""Streaming multi-frame super-resolution: sliding windows of LR luma planes, aligned and fused.

The window of frame t is t−k…t+k clipped to the video and to its shot: a scene cut between two
consecutive frames (detected from their alignment) ends the window, and the missing positions
repeat the edge frame with zero weight, so a frame is never fused with another scene. Only the
frames and flows that a future window still needs are kept: memory is bounded by the window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from vsr.device import DTYPES, cudnn_settings
from vsr.misr.align import (
    FlowEstimator,
    FlowSettings,
    WindowAlignment,
    consistency_confidence,
    flow_to_tensor,
    warp,
)
from vsr.misr.fuse import FusionSettings, fuse
from vsr.options import check_frames

__all__ = ["MultiFrameSR", "MultiFrameSettings", "Diagnostics"]

log = logging.getLogger(__name__)


MIN_TELLING_SHARE = 0.05
"""The least share of a frame's pixels (not flat and unchanged) on which a scene cut is judged."""
FLAT_LEVELS = 1.5
"""Local standard deviation (8-bit levels, 5x5) under which a pixel is flat."""


FLAT_WINDOW = np.ones((5, 5), np.uint8)


def _flat(plane: np.ndarray) -> np.ndarray:
    """Where `plane` (float32 levels) is flat: its 5x5 neighbourhood varies by under FLAT_LEVELS."""
    mean = cv2.blur(plane, FLAT_WINDOW.shape)
    variance = cv2.blur(plane * plane, FLAT_WINDOW.shape) - mean * mean
    return variance < FLAT_LEVELS * FLAT_LEVELS


@dataclass(frozen=True)
class MultiFrameSettings:
    """frames: window length 2k+1; consistency_sigma: forward–backward tolerance in LR pixels;
    cut_threshold: consecutive frames whose aligned, lightly blurred luma agrees (within
    cut_tolerance 8-bit levels) on fewer than this fraction of the pixels that are not flat and
    unchanged in both (letterbox bars, a still sky: they agree across any cut) are a scene cut."""

    frames: int = 5
    flow: FlowSettings = field(default_factory=FlowSettings)
    fusion: FusionSettings = field(default_factory=FusionSettings)
    consistency_sigma: float = 0.5
    cut_threshold: float = 0.2
    cut_tolerance: float = 6.0

    def __post_init__(self) -> None:
        check_frames(self.frames)

    @property
    def radius(self) -> int:
        return (self.frames - 1) // 2


@dataclass
class Diagnostics:
    """What the alignment saw for one reference frame (for --debug-dir)."""

    index: int
    window: list[int]
    """Frame indices of the window, reference first; repeats (edges, cuts) have zero weight."""
    confidence: np.ndarray
    """(K, H, W) float32 alignment confidence of each window entry on the reference's LR grid."""
    cut_before: bool
    cut_after: bool


class MultiFrameSR:
    """Streaming alignment and fusion of sliding windows of LR luma planes.

    Planes are (H, W) arrays of integers in 0..max_value (or floats in those units). Outputs are
    float32 tensors in the same units. `device`/`compute_dtype` choose where the fusion runs (the
    flow is always estimated on the CPU with OpenCV). Not thread-safe: one instance per stream.
    """

    def __init__(
        self,
        scale: int,
        settings: MultiFrameSettings | None = None,
        *,
        max_value: int = 255,
        device: str | torch.device = "cpu",
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        self.scale = scale
        self.settings = settings or MultiFrameSettings()
        self.radius = self.settings.radius
        self.max_value = max_value
        self.device = torch.device(device)
        self.compute_dtype = compute_dtype
        self._flow = FlowEstimator(self.settings.flow, 255)  # frames are kept in 8-bit levels
        self._levels = 255.0 / max_value
        self._frames: dict[int, np.ndarray] = {}  # index → LR luma in 8-bit levels (float32)
        self._flows: dict[tuple[int, int], np.ndarray] = {}  # (a, b) → flow with b(x + f) ≈ a(x)
        self._aligned: dict[int, tuple[list[int], WindowAlignment]] = {}  # reference → (its window, alignment)
        self._cut_after: dict[int, bool] = {}  # i → a cut between frames i and i+1
        self._shape: tuple[int, ...] | None = None
        self.count = 0
        self.finished = False
        self.cuts: list[int] = []
        """Indices i such that a cut lies between frames i and i+1 (for logs and tests)."""

    # --- input -----------------------------------------------------------------------------

    def push(self, luma: np.ndarray) -> int:
        """Add the next frame's LR luma; returns its index. Aligns it with the frames before it."""
        if self.finished:
            raise RuntimeError("push after finish")
        index = self.count
        plane = np.asarray(luma)
        if plane.ndim != 2:
            raise ValueError(f"a luma plane is (H, W), got shape {plane.shape}")
        if self._shape is None:
            self._shape = plane.shape
        elif plane.shape != self._shape:
            raise ValueError(f"frame {index} is {plane.shape}, the earlier frames were {self._shape}")
        self._frames[index] = plane.astype(np.float32) * self._levels if self._levels != 1.0 else plane.astype(np.float32)
        self.count += 1
        if index and self.radius:
            self._cut_after[index - 1] = self._detect_cut(index - 1, index)
            if self._cut_after[index - 1]:
                self.cuts.append(index - 1)
                log.debug("scene cut between frames %d and %d", index - 1, index)
        return index

    def finish(self) -> None:
        """No more frames: the windows of the last k frames replicate the final frame."""
        self.finished = True

    def ready(self, index: int) -> bool:
        """Whether every frame that the window of `index` could use has arrived."""
        if index >= self.count:
            return False
        return self.finished or index + self.radius < self.count or self._shot_end(index) < self.count - 1

    def release(self, before: int) -> None:
        """Forget what only windows of references before `before` needed."""
        keep_from = before - self.radius
        for i in [i for i in self._frames if i < keep_from]:
            del self._frames[i]
        for key in [key for key in self._flows if min(key) < keep_from]:
            del self._flows[key]
        for i in [i for i in self._cut_after if i < keep_from - 1]:
            del self._cut_after[i]
        for i in [i for i in self._aligned if i < before]:
            del self._aligned[i]

    # --- windows ---------------------------------------------------------------------------

    def _shot_end(self, index: int) -> int:
        """The last known frame of index's shot within index + radius."""
        end = index
        while end < index + self.radius and end + 1 < self.count and not self._cut_after.get(end, False):
            end += 1
        return end

    def _shot_start(self, index: int) -> int:
        start = index
        while start > index - self.radius and start > 0 and not self._cut_after.get(start - 1, False):
            start -= 1
        return start

    def window(self, index: int) -> list[int]:
        """The 2k+1 frame indices of index's window, reference first, then t−k … t+k without t.

        Positions beyond the video or the shot repeat its edge frame (they get zero weight).
        """
        start, end = self._shot_start(index), self._shot_end(index)
        others = [min(max(index + d, start), end) for d in range(-self.radius, self.radius + 1) if d != 0]
        return [index, *others]

    # --- alignment -------------------------------------------------------------------------

    def _flow_between(self, a: int, b: int) -> np.ndarray:
        """Flow f on a's grid with frame b at x + f(x) ≈ frame a at x (cached)."""
        key = (a, b)
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flow(self._frames[a], self._frames[b])
            self._flows[key] = flow
        return flow

    def _detect_cut(self, a: int, b: int) -> bool:
        """A scene cut between consecutive frames a and b: after alignment, few of the pixels that
        say anything agree (not those flat and unchanged in both: black bars keep a quarter of a
        letterboxed frame in agreement across any cut)."""
        fa, fb = self._frames[a], self._frames[b]
        flow = self._flow_between(a, b)
        warped = warp(torch.from_numpy(fb)[None, None], flow_to_tensor(flow))[0, 0].numpy()
        blur_a = cv2.GaussianBlur(fa, (0, 0), 1.0)
        blur_b = cv2.GaussianBlur(warped, (0, 0), 1.0)
        agree = np.abs(blur_a - blur_b) < self.settings.cut_tolerance
        still = (_flat(fa) & _flat(fb) & (np.abs(fa - fb) < self.settings.cut_tolerance)).astype(np.uint8)
        telling = ~cv2.dilate(still, FLAT_WINDOW).astype(bool)  # and the bars' edges, unchanged too
        if telling.mean() < MIN_TELLING_SHARE:  # a frame of one flat colour (a fade to black): no cut to see
            return False
        return float(agree[telling].mean()) < self.settings.cut_threshold

    def alignment(self, index: int) -> WindowAlignment:
        """The window of the reference frame `index` (`ready`) aligned to it, on the CPU.

        Kept until released: the stack, the fusion and the diagnostics of one reference all read it.
        Raises RuntimeError if the frame is not ready.
        """
        self._check_ready([index])
        return self._align(index, self.window(index))

    def _align(self, index: int, window: list[int]) -> WindowAlignment:
        cached = self._aligned.get(index)
        if cached is not None:
            cached_window, alignment = cached
            if cached_window == window:
                return alignment
        alignment = self._compute_alignment(index, window)
        self._aligned[index] = (window, alignment)
        return alignment

    def _compute_alignment(self, index: int, window: list[int]) -> WindowAlignment:
        h, w = self._frames[index].shape
        k = len(window)
        lr = torch.from_numpy(np.stack([self._frames[i] for i in window]))
        to_ref = torch.zeros(k, 2, h, w)
        from_ref = torch.zeros(k, 2, h, w)
        conf = torch.zeros(k, h, w)
        conf_ref = torch.zeros(k, h, w)
        seen = {index}
        for j, i in enumerate(window[1:], start=1):
            if i in seen:
                continue  # a repeat at an edge or a cut: zero weight
            seen.add(i)
            to_ref[j] = flow_to_tensor(self._flow_between(i, index))[0]
            from_ref[j] = flow_to_tensor(self._flow_between(index, i))[0]
            sigma = self.settings.consistency_sigma
            conf[j] = consistency_confidence(to_ref[j : j + 1], from_ref[j : j + 1], sigma=sigma)[0, 0]
            conf_ref[j] = consistency_confidence(from_ref[j : j + 1], to_ref[j : j + 1], sigma=sigma)[0, 0]
        return WindowAlignment(lr=lr, to_ref=to_ref, from_ref=from_ref, confidence=conf, confidence_ref=conf_ref)

    def reference_flows(self, index: int) -> tuple[list[int], torch.Tensor]:
        """The distinct other frames of the window of `index` (`ready`) and the flows from the
        reference to each, (K, 2, H, W): frame i at x + f(x) ≈ the reference at x (no confidences)."""
        self._check_ready([index])
        others = [i for i in dict.fromkeys(self.window(index)) if i != index]
        if not others:
            return [], torch.zeros(0, 2, *self._frames[index].shape)
        return others, flow_to_tensor([self._flow_between(index, i) for i in others])

    def plane(self, index: int) -> np.ndarray:
        """Frame `index`'s LR luma as pushed (uint8, or uint16 above 8 bits), while it is held."""
        levels = np.rint(self._frames[index] / self._levels) if self._levels != 1.0 else self._frames[index]
        return levels.astype(np.uint8 if self.max_value <= 255 else np.uint16)

    def stack(self, indices: list[int]) -> torch.Tensor:
        """The learned fusion's input for the reference frames `indices` (each `ready`).

        (N, 2K−1, H, W) float32 in [0, 1] on the CPU: the window's LR luma warped onto the
        reference's grid (reference first, then t−k … t+k without t), then the neighbours'
        alignment confidences on that grid (0 for repeats at edges and cuts).
        """
        self._check_ready(indices)
        stacks = []
        for i in indices:
            aligned = self._align(i, self.window(i))
            warped = warp(aligned.lr[1:, None], aligned.from_ref[1:], mode="bicubic")[:, 0]
            stacks.append(torch.cat([aligned.lr[:1], warped, aligned.confidence_ref[1:] * 255.0]) / 255.0)
        return torch.stack(stacks)

    def diagnostics(self, indices: list[int]) -> list[Diagnostics]:
        """What the alignment saw for each reference frame in `indices` (each `ready`)."""
        self._check_ready(indices)
        result = []
        for i in indices:
            window = self.window(i)
            confidence = self._align(i, window).confidence_ref.numpy().copy()
            confidence[0] = 1.0
            result.append(Diagnostics(i, window, confidence, self._cut_after.get(i - 1, False),
                                      self._cut_after.get(i, False)))
        return result

    def _check_ready(self, indices: list[int]) -> None:
        for i in indices:
            if not self.ready(i):
                raise RuntimeError(f"frame {i} is not ready (have {self.count} frames, window radius {self.radius})")

    # --- fusion ----------------------------------------------------------------------------

    def fuse(
        self, indices: list[int], inits: list[np.ndarray] | torch.Tensor, *, diagnostics: list[Diagnostics] | None = None
    ) -> torch.Tensor:
        """HR luma of the reference frames `indices` (each `ready`), from their single-frame estimates.

        inits: one (sH, sW) plane per index in 0..max_value, or an (N, 1, sH, sW) tensor.
        Returns (N, 1, sH, sW) float32 on `device`, in 0..max_value units, neither clamped nor rounded.
        If `diagnostics` is a list, one Diagnostics per index is appended to it.
        """
        self._check_ready(indices)
        aligned = WindowAlignment.batch([self._align(i, self.window(i)) for i in indices], self.device)
        if isinstance(inits, torch.Tensor):
            init = inits.to(self.device, torch.float32)
        else:
            init = torch.from_numpy(np.stack([np.asarray(p, dtype=np.float32) for p in inits]))[:, None].to(self.device)
        if diagnostics is not None:
            diagnostics.extend(self.diagnostics(indices))
        precision = next((name for name, dtype in DTYPES.items() if dtype == self.compute_dtype), "fp32")
        with cudnn_settings(precision, benchmark=False):
            out = fuse(
                init * self._levels, aligned.lr, aligned.to_ref, aligned.from_ref, aligned.confidence,
                aligned.confidence_ref, self.scale, self.settings.fusion, compute_dtype=self.compute_dtype,
            )
        return out / self._levels if self._levels != 1.0 else out
