"""Motion-compensated temporal denoising: each frame averaged with its aligned neighbours.

For frame t, the other frames of its window t−r…t+r (`MultiFrameSR.window`: clipped to the video
and to its shot, never across a scene cut) are warped onto t's grid by the dense flow of
`vsr.misr.align` and averaged with t, each with a per-pixel weight

    w = exp(−max(D − 2σ², 0) / (2 h² σ²))

where D is the squared difference between the warped neighbour and t, averaged over a patch, σ the
noise level and h the strength. Where an aligned neighbour differs from t by no more than the noise
makes two frames differ (2σ²), it counts as much as t itself; where it differs more (a
misalignment, an occlusion, a change), it drops out. σ is measured on every frame from those same
differences: their robust spread (1.4826 × the median absolute difference, over √2), taken from the
neighbour that agrees best, so that moving regions do not count as noise; a frame measured below 2
levels (clean footage, where aligned frames agree within a level or two) is left as it is. Chroma
is averaged with the luma's flows and weights.

Settings chosen on held-out training images with synthetic camera and object motion
(`scripts/temporal_denoise_tuning.py`), never on Vid4.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsr.misr.align import FlowSettings, flow_grid, warp
from vsr.misr.stream import MultiFrameSettings, MultiFrameSR
from vsr.options import TEMPORAL_DENOISE_RADIUS

__all__ = ["TemporalDenoiseSettings", "TemporalDenoiser", "flow_scale", "measured_sigma", "temporal_weights"]

MAD_TO_SIGMA = 1.4826
"""A normal distribution's σ over its median absolute deviation."""


@dataclass(frozen=True)
class TemporalDenoiseSettings:
    """radius: neighbours on each side (the window is 2·radius + 1 frames); patch: the side of the
    square over which differences are averaged (odd); strength: h; sigma: a fixed noise level in
    8-bit levels (None: measured on every frame); min_sigma: the least noise level assumed;
    skip_below: a frame whose measured noise is below this is left as it is (clean frames measure
    0.5 to 1.8 on the held-out images, x264's damage under 1, noise σ 5 4.5 to 5.7);
    flow_lines: the flow is estimated at flow_lines to twice as many lines (`flow_scale`): finer
    flow on larger frames follows the noise and costs more (Big Buck Bunny at 540p, σ 10: 37.1 dB
    at 135 lines, 37.0 at 270, 36.2 at 540, in 1/6 to 1/2 of the time; the held-out images at
    their full size: 36.18, 36.13 and 36.14 dB at 135, 270 and all their lines)."""

    radius: int = TEMPORAL_DENOISE_RADIUS
    patch: int = 5
    strength: float = 1.0
    sigma: float | None = None
    min_sigma: float = 0.5
    skip_below: float = 2.0
    flow_lines: int = 135
    flow: FlowSettings = field(default_factory=FlowSettings)

    def __post_init__(self) -> None:
        if not 1 <= self.radius <= 7:
            raise ValueError(f"radius must be 1 to 7 frames, got {self.radius}")
        if self.patch < 1 or self.patch % 2 == 0:
            raise ValueError(f"patch must be odd and >= 1, got {self.patch}")
        if self.strength <= 0 or self.min_sigma <= 0 or self.skip_below < 0 or self.flow_lines < 1 or (self.sigma is not None and self.sigma < 0):
            raise ValueError(f"invalid temporal denoise settings: {self}")


def flow_scale(height: int, flow_lines: int) -> int:
    """DIS's finest scale for frames of `height` lines: the flow is estimated at height / 2^scale,
    which lies between flow_lines and twice as many (or at the full height below that)."""
    return max(0, int(math.floor(math.log2(height / flow_lines)))) if height > flow_lines else 0


MEDIAN_SAMPLES = 1 << 16
"""Differences per neighbour that the noise level is measured on (a regular subsample beyond)."""


def measured_sigma(differences: torch.Tensor) -> float:
    """The noise level of a frame from (K, H, W) aligned differences neighbour − frame, in their
    units: the smallest over the neighbours of 1.4826·median|d| / √2 (the best-aligned neighbour's
    differences are the frame's noise and its own). 0 for no neighbours."""
    if differences.shape[0] == 0:
        return 0.0
    flat = differences.flatten(1)
    step = max(1, flat.shape[1] // MEDIAN_SAMPLES)
    mad = flat[:, ::step].abs().median(dim=1).values
    return float(mad.min()) * MAD_TO_SIGMA / math.sqrt(2.0)


def temporal_weights(differences: torch.Tensor, sigma: float, patch: int, strength: float) -> torch.Tensor:
    """(K, H, W) aligned differences → (K, H, W) weights in [0, 1] (see the module's formula)."""
    mean_square = differences.square()
    for plane in mean_square.numpy():  # in place
        cv2.boxFilter(plane, -1, (patch, patch), dst=plane, borderType=cv2.BORDER_REFLECT)
    noise = 2.0 * sigma * sigma
    return torch.exp(-(mean_square - noise).clamp_(min=0.0) / (strength * strength * noise))


class TemporalDenoiser:
    """Streaming temporal denoising of a video's frames (one instance per stream, not thread-safe).

        denoiser = TemporalDenoiser(max_value=255)
        denoiser.push(planes[0])                 # each frame's luma, in display order
        if denoiser.ready(t):                    # once t + radius (or a cut, or the end) has arrived
            out, sigma = denoiser.denoise(t, {i: planes_of(i) for i in denoiser.window(t)})
            denoiser.release(t + 1)
        denoiser.finish()                        # no more frames: the last ones become ready

    Planes are (H, W) arrays of integers in 0..max_value; chroma planes may be smaller (subsampled).
    """

    def __init__(self, settings: TemporalDenoiseSettings | None = None, *, max_value: int = 255) -> None:
        self.settings = settings or TemporalDenoiseSettings()
        self.max_value = max_value
        self._frames: MultiFrameSR | None = None  # made at the first frame, whose height sets the flow's scale

    @property
    def count(self) -> int:
        """Frames pushed so far."""
        return self._frames.count if self._frames is not None else 0

    @property
    def cuts(self) -> list[int]:
        """Indices i with a scene cut between frames i and i+1."""
        return self._frames.cuts if self._frames is not None else []

    def push(self, luma: np.ndarray) -> int:
        """Add the next frame's luma; returns its index."""
        if self._frames is None:
            s = self.settings
            flow = dataclasses.replace(s.flow, finest_scale=flow_scale(luma.shape[0], s.flow_lines))
            self._frames = MultiFrameSR(1, MultiFrameSettings(frames=2 * s.radius + 1, flow=flow), max_value=self.max_value)
        return self._frames.push(luma)

    def finish(self) -> None:
        if self._frames is not None:
            self._frames.finish()

    def ready(self, index: int) -> bool:
        """Whether every frame that the window of `index` could use has arrived."""
        return self._frames is not None and self._frames.ready(index)

    def release(self, before: int) -> None:
        """Forget what only frames before `before` needed."""
        if self._frames is not None:
            self._frames.release(before)

    def _pushed(self) -> MultiFrameSR:
        if self._frames is None:
            raise RuntimeError("no frame is ready: none was pushed")
        return self._frames

    def window(self, index: int) -> list[int]:
        """The distinct frames `index` is averaged with, itself first (its shot's part of t−r…t+r)."""
        return list(dict.fromkeys(self._pushed().window(index)))

    def denoise(self, index: int, planes_of: Mapping[int, Sequence[np.ndarray]]) -> tuple[list[np.ndarray], float]:
        """Frame `index` (`ready`) denoised: its planes and the noise level used (8-bit levels).

        planes_of: the planes (luma first, as pushed) of every frame of `window(index)`. The planes
        come back in their dtype, rounded and clipped to 0..max_value.
        """
        others, flows = self._pushed().reference_flows(index)
        if not others:  # a shot of one frame
            return [np.array(plane) for plane in planes_of[index]], 0.0
        s = self.settings
        luma_shape = planes_of[index][0].shape
        grids = {luma_shape: flow_grid(flows)}  # per plane size: chroma planes share theirs
        weights: dict[tuple[int, ...], torch.Tensor] = {}
        out: list[np.ndarray] = []
        for p, plane in enumerate(planes_of[index]):
            frames = torch.from_numpy(np.stack([np.asarray(planes_of[i][p], dtype=np.float32) for i in (index, *others)]))
            if plane.shape not in grids:  # subsampled chroma: the luma's motion and weights at its size
                grids[plane.shape] = flow_grid(_resize_flow(flows, plane.shape))
                weights[plane.shape] = F.interpolate(weights[luma_shape][:, None], size=plane.shape, mode="area")[:, 0]
            neighbours = warp(frames[1:, None], flows, mode="bicubic", grid=grids[plane.shape])[:, 0]
            if p == 0:  # luma first: the noise level and the weights, in 8-bit levels
                differences = (neighbours - frames[0]) * (255.0 / self.max_value)
                sigma = s.sigma if s.sigma is not None else measured_sigma(differences)
                if sigma < s.skip_below:
                    return [np.array(plane) for plane in planes_of[index]], sigma
                weights[luma_shape] = temporal_weights(differences, max(sigma, s.min_sigma), s.patch, s.strength)
            plane_weights = weights[plane.shape]
            averaged = (frames[0] + (plane_weights * neighbours).sum(dim=0)) / (1.0 + plane_weights.sum(dim=0))
            out.append(averaged.round_().clamp_(0, self.max_value).numpy().astype(plane.dtype))
        return out, sigma


def _resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(K, 2, H, W) flows in pixels → the same motion on a (h, w) grid, in its pixels."""
    _, _, height, width = flow.shape
    resized = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    factors = torch.tensor([size[1] / width, size[0] / height], dtype=flow.dtype).view(1, 2, 1, 1)
    return resized * factors
