"""Sub-pixel alignment of neighbouring frames: dense flow on low-resolution luma, warping, confidence.

Conventions (used throughout `vsr.misr`):

- A flow field maps the pixels of one frame onto another: `flow = estimate_flow(ref, src)` is an
  (H, W, 2) float32 array of (dx, dy) in pixels such that `src(x + flow(x)) ≈ ref(x)`, and
  `warp(src, flow)` resamples `src` onto `ref`'s grid.
- Pixel centres sit at integer coordinates; a flow at scale s is the LR flow upsampled with
  `align_corners=False` (the pixel-centre convention of bicubic resizing) and multiplied by s.
- Confidence maps are in [0, 1]: 1 where the forward and backward flows agree and the warped
  neighbour matches, 0 where a pixel leaves the frame or is occluded.

Dense flow is OpenCV's DIS (Kroeger et al. 2016) with variational refinement, estimated at full LR
resolution (finest scale 0): the stock presets stop at a half or a quarter of the resolution,
which is too coarse for 180x144 frames (see the field notes).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FlowSettings",
    "FlowEstimator",
    "estimate_flow",
    "warp",
    "flow_grid",
    "upscale_flow",
    "flow_to_tensor",
    "consistency_confidence",
    "WindowAlignment",
]


@dataclass(frozen=True)
class FlowSettings:
    """DIS parameters. `finest_scale` 0 estimates at the input resolution (right for LR frames)."""

    finest_scale: int = 0
    patch_size: int = 8
    patch_stride: int = 2
    gradient_iterations: int = 16
    refinement_iterations: int = 5
    alpha: float = 20.0
    gamma: float = 10.0
    delta: float = 5.0
    mean_normalization: bool = True


def _dis(settings: FlowSettings) -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(settings.finest_scale)
    dis.setPatchSize(settings.patch_size)
    dis.setPatchStride(settings.patch_stride)
    dis.setGradientDescentIterations(settings.gradient_iterations)
    dis.setVariationalRefinementIterations(settings.refinement_iterations)
    dis.setVariationalRefinementAlpha(settings.alpha)
    dis.setVariationalRefinementGamma(settings.gamma)
    dis.setVariationalRefinementDelta(settings.delta)
    dis.setUseMeanNormalization(settings.mean_normalization)
    dis.setUseSpatialPropagation(True)
    return dis


def _as_uint8(plane: np.ndarray, max_value: int) -> np.ndarray:
    """DIS works on 8-bit images: scale 10-bit planes (or floats in levels) down to 0..255."""
    if plane.dtype == np.uint8:
        return np.ascontiguousarray(plane)
    return np.clip(np.rint(plane.astype(np.float32) * (255.0 / max_value)), 0, 255).astype(np.uint8)


class FlowEstimator:
    """Dense flow between pairs of luma planes; one instance per thread (DIS keeps state)."""

    def __init__(self, settings: FlowSettings | None = None, max_value: int = 255) -> None:
        self.settings = settings or FlowSettings()
        self.max_value = max_value
        self._dis = _dis(self.settings)

    def __call__(self, ref: np.ndarray, src: np.ndarray) -> np.ndarray:
        """(H, W, 2) float32 flow with `src(x + flow(x)) ≈ ref(x)`; planes are (H, W) of equal shape."""
        if ref.shape != src.shape or ref.ndim != 2:
            raise ValueError(f"flow needs two (H, W) planes of the same shape, got {ref.shape} and {src.shape}")
        a = _as_uint8(ref, self.max_value)
        b = _as_uint8(src, self.max_value)
        if min(a.shape) < self.settings.patch_size:
            return np.zeros((*a.shape, 2), np.float32)
        return self._dis.calc(a, b, None)


def estimate_flow(ref: np.ndarray, src: np.ndarray, settings: FlowSettings | None = None, max_value: int = 255) -> np.ndarray:
    """One-off `FlowEstimator(settings, max_value)(ref, src)`."""
    return FlowEstimator(settings, max_value)(ref, src)


def flow_to_tensor(flow: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """(H, W, 2) or a list of them → (N, 2, H, W) float32."""
    arrays = [flow] if isinstance(flow, np.ndarray) else list(flow)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


_GRID_CACHE: dict[tuple, torch.Tensor] = {}


def _base_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (height, width, device, dtype)
    grid = _GRID_CACHE.get(key)
    if grid is None:
        ys = torch.arange(height, device=device, dtype=torch.float32)
        xs = torch.arange(width, device=device, dtype=torch.float32)
        # normalised coordinates for align_corners=False: pixel centre i ↦ (2i + 1)/n − 1
        gx = (2 * xs + 1) / width - 1
        gy = (2 * ys + 1) / height - 1
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1).to(dtype)[None]
        if len(_GRID_CACHE) > 16:
            _GRID_CACHE.clear()
        _GRID_CACHE[key] = grid
    return grid


def flow_grid(flow: torch.Tensor) -> torch.Tensor:
    """The sampling grid of `grid_sample` (align_corners=False) for a flow: (N, 2, H, W) → (N, H, W, 2)."""
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"a flow is (N, 2, H, W), got {tuple(flow.shape)}")
    _, _, h, w = flow.shape
    scale = torch.tensor([2.0 / w, 2.0 / h], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)
    return _base_grid(h, w, flow.device, flow.dtype) + (flow * scale).permute(0, 2, 3, 1)


def warp(
    image: torch.Tensor, flow: torch.Tensor, *, mode: str = "bilinear", padding: str = "border",
    grid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Resample `image` at `x + flow(x)`: (N, C, H, W) and (N, 2, H, W) → (N, C, H, W).

    `flow` is in pixels of `image`'s grid, (dx, dy) along channel 1. mode: "bilinear", "bicubic"
    or "nearest"; padding: "border" (edge replication), "zeros" or "reflection". `grid`, if given,
    is `flow_grid(flow)` computed once for repeated warps by the same flow (`flow` is then unused).
    """
    if grid is None:
        if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
            raise ValueError(f"warp needs (N,C,H,W) and (N,2,H,W), got {tuple(image.shape)} and {tuple(flow.shape)}")
        if flow.shape[0] != image.shape[0] or flow.shape[2:] != image.shape[2:]:
            raise ValueError(f"flow {tuple(flow.shape)} does not match image {tuple(image.shape)}")
        grid = flow_grid(flow)
    return F.grid_sample(image, grid.to(image.dtype), mode=mode, padding_mode=padding, align_corners=False)


def upscale_flow(flow: torch.Tensor, scale: int) -> torch.Tensor:
    """An LR flow (N, 2, H, W) as the flow of the xscale grid: (N, 2, sH, sW), vectors times `scale`."""
    if scale == 1:
        return flow
    up = F.interpolate(flow, scale_factor=scale, mode="bilinear", align_corners=False)
    return up * scale


def consistency_confidence(forward: torch.Tensor, backward: torch.Tensor, *, sigma: float = 0.5) -> torch.Tensor:
    """Forward–backward check: (N, 2, H, W) flows a→b (on a's grid) and b→a (on b's grid) → (N, 1, H, W).

    For each pixel x of a, the round trip x → x + f(x) → x + f(x) + b(x + f(x)) should return to x.
    The confidence is exp(−|round-trip error|² / 2σ²) (σ in pixels), and 0 where x + f(x) leaves b.
    """
    back = warp(backward, forward, mode="bilinear", padding="border")
    error2 = (forward + back).square().sum(dim=1, keepdim=True)
    confidence = torch.exp(error2 * (-0.5 / (sigma * sigma)))
    return confidence * _inside(forward)


def _inside(flow: torch.Tensor) -> torch.Tensor:
    """1 where x + flow(x) lies inside the frame (within half a pixel), else 0: (N, 1, H, W)."""
    _, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    return inside.unsqueeze(1).to(flow.dtype)


@dataclass(frozen=True, eq=False)
class WindowAlignment:
    """One window of K = 2k+1 LR frames aligned to its reference: what the fusion reads.

    Entry 0 is the reference, then t−k … t+k without t (`MultiFrameSR.window`). Planes are in
    8-bit levels (float32), flows in LR pixels as (dx, dy) along the flow axis. Entry 0 and the
    repeats at the video's edges and at scene cuts have zero flow and zero confidence (zero weight).
    `batch` stacks N windows, which puts N in front of every shape below.
    """

    lr: torch.Tensor
    """(K, H, W) the window's LR luma."""
    to_ref: torch.Tensor
    """(K, 2, H, W) flow from neighbour k to the reference, on k's grid: ref(x + f(x)) ≈ k(x)."""
    from_ref: torch.Tensor
    """(K, 2, H, W) flow from the reference to neighbour k, on the reference's grid: k(x + f(x)) ≈ ref(x)."""
    confidence: torch.Tensor
    """(K, H, W) forward–backward consistency in [0, 1] of `to_ref`, on neighbour k's grid."""
    confidence_ref: torch.Tensor
    """(K, H, W) the same for `from_ref`, on the reference's grid."""

    @classmethod
    def batch(cls, windows: list[WindowAlignment], device: torch.device | str = "cpu") -> WindowAlignment:
        """N windows of equal K, H, W as one record with a leading N axis, on `device`."""
        return cls(**{f.name: torch.stack([getattr(w, f.name) for w in windows]).to(device) for f in fields(cls)})
