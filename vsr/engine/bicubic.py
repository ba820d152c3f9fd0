"""The no-network engine: bicubic upscaling of every plane."""

from __future__ import annotations

import numpy as np

from vsr.resample.bicubic import upscale_bicubic


class BicubicEngine:
    """No network: OpenCV's bicubic resize, the fastest way to the bicubic baseline."""

    device = "cpu"
    precision = "uint"
    upscales_chroma = False

    def __init__(self, scale: int, max_value: int = 255) -> None:
        self.scale = scale
        self.max_value = max_value

    def submit(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        return [upscale_bicubic(luma, self.scale, self.max_value) for luma in lumas]

    def collect(self, handle: list[np.ndarray]) -> list[np.ndarray]:
        return handle
