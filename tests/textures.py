"""Smooth synthetic test images whose sub-pixel shifts are exact (for the multi-frame tests)."""

from __future__ import annotations

import cv2
import numpy as np


def texture(height: int, width: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """A smooth random texture in 8-bit levels (float32): band-limited, so sub-pixel shifts are exact."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    smooth = (smooth - smooth.mean()) / smooth.std()
    return np.clip(128 + 45 * smooth, 0, 255).astype(np.float32)


def fourier_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`image` moved by (dx, dy) pixels (out(x) = image(x − d)), exact for periodic band-limited images."""
    h, w = image.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * phase)).astype(np.float32)
