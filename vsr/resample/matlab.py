"""MATLAB-style bicubic resize (`imresize(img, 1/s, 'bicubic')`, antialiased when shrinking).

This is the "BI" degradation of the super-resolution literature: training pairs and
evaluation inputs are made with it so that figures compare with published ones.
Resizing is separable and linear: each axis is a dense (out, in) weight matrix, built
exactly as MATLAB's `contributions()` builds it (cubic kernel a=-0.5, kernel stretched
by 1/scale when shrinking, symmetric mirroring at the borders).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["imresize", "resize_weights"]


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@functools.lru_cache(maxsize=256)
def resize_weights(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(out_len, in_len) float64 matrix W such that resized = W @ signal along one axis."""
    if scale < 1 and antialias:
        width = 4.0 / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)

    else:
        width = 4.0
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based, as in MATLAB
    w = kernel(u[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), taps)
    np.add.at(mat, (rows, idx0.ravel()), w.ravel())
    return mat


def imresize(img: np.ndarray, scale: float, *, antialias: bool = True, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) image like MATLAB `imresize(img, scale, 'bicubic')`.

    Returns float32 values (not clipped, not rounded: callers that want 8-bit images
    round and clip, as MATLAB does for uint8 input). `out_shape` defaults to
    ceil(H*scale), ceil(W*scale).
    """
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"imresize expects an (H, W) or (H, W, C) array, got shape {arr.shape}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = arr.shape[:2]
    oh, ow = out_shape if out_shape is not None else (math.ceil(h * scale), math.ceil(w * scale))
    wh = resize_weights(h, oh, float(scale), antialias).astype(np.float32)
    ww = resize_weights(w, ow, float(scale), antialias).astype(np.float32)
    if arr.ndim == 2:
        return wh @ arr @ ww.T
    out = np.einsum("oh,hwc->owc", wh, arr, optimize=True)
    return np.einsum("pw,owc->opc", ww, out, optimize=True)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round and clip to 0..255 uint8, as MATLAB does when it writes uint8 images."""
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
