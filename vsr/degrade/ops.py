"""The single degradations, on float32 luma planes in 8-bit levels (0…255, not yet rounded).
Each is a pure function of its parameters (and of `rng` for noise), so a clip's frames can be
degraded alike."""

from __future__ import annotations

import math

import cv2
import numpy as np

from vsr.resample.matlab import imresize

CV2_MODES = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """A normalised 2-D Gaussian kernel with axes sigma_x, sigma_y (pixels) rotated by theta
    (radians); odd side of about 6 sigma, at least 3."""
    radius = max(1, math.ceil(3.0 * max(sigma_x, sigma_y)))
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).astype(np.float32)


def blur(plane: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`plane` convolved with `kernel`, borders reflected; same size."""
    return cv2.filter2D(plane, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def resize(plane: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """`plane` resized to `size` = (height, width) with an OpenCV mode (area, bilinear, bicubic)
    or "matlab" (antialiased bicubic, the benchmark protocol)."""
    height, width = size
    if plane.shape == (height, width):
        return plane
    if mode == "matlab":
        return imresize(plane, out_shape=(height, width), scale=height / plane.shape[0]).astype(np.float32)
    return cv2.resize(plane, (width, height), interpolation=CV2_MODES[mode])


def gaussian_noise(plane: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """`plane` plus white Gaussian noise of standard deviation `sigma` levels."""
    return plane + rng.normal(0.0, sigma, plane.shape).astype(np.float32)


def poisson_noise(plane: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """`plane` plus shot noise (Real-ESRGAN's: Poisson counts at 256 per full level, the noise
    scaled by `scale`): stronger in the highlights than in the shadows."""
    levels = np.clip(plane, 0.0, 255.0) / 255.0
    noisy = rng.poisson(levels * 256.0) / 256.0
    return plane + (255.0 * scale * (noisy - levels)).astype(np.float32)


def jpeg(plane: np.ndarray, quality: int) -> np.ndarray:
    """`plane` through a greyscale JPEG at `quality` (OpenCV's libjpeg)."""
    ok, data = cv2.imencode(".jpg", to_levels(plane), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok, "OpenCV failed to encode a JPEG"
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32)


def to_levels(plane: np.ndarray) -> np.ndarray:
    """Rounded, clipped uint8 levels."""
    return np.clip(np.rint(plane), 0, 255).astype(np.uint8)
