"""Bicubic interpolation as a registry entry: no weights, nothing learned."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 3, 4)


class Bicubic(nn.Module):
    """Torch bicubic upsampling (align_corners=False): (N, C, H, W) → (N, C, sH, sW); no weights."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
