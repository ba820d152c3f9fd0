"""Bicubic upscaling by an integer factor: OpenCV's on the CPU, torch's on the GPU (the same kernel)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def upscale_bicubic(plane: np.ndarray, scale: int, max_value: int = 255) -> np.ndarray:
    """OpenCV's bicubic resize, clamped to [0, max_value] (it saturates 16-bit samples only at 65535)."""
    height, width = plane.shape
    out = cv2.resize(plane, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
    if out.dtype == np.uint16:
        np.minimum(out, max_value, out=out)
    return out


def upscale_bicubic_tensor(planes: torch.Tensor, scale: int, max_value: int) -> torch.Tensor:
    """(N, h, w) integer planes → (N, sh, sw) bicubic upscaled, rounded and clamped, same dtype.

    torch's bicubic (a = −0.75, pixel centres, clamped edges) is OpenCV's INTER_CUBIC, so this
    matches `upscale_bicubic` within one level (tested); it is the chroma path on the GPU.
    """
    x = planes.unsqueeze(1).to(torch.float32)
    y = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return y.squeeze(1).round_().clamp_(0, max_value).to(planes.dtype)
