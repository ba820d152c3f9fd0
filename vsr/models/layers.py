"""Building blocks shared by the architectures."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


@functools.lru_cache(maxsize=8)
def bicubic_phase_kernels(scale: int) -> torch.Tensor:
    """(scale*scale, 1, 5, 5) kernels: torch bicubic (align_corners=False) as a conv in LR space.

    Output channel py*scale+px holds the HR sub-pixel phase (py, px), so that a
    pixel shuffle of the conv output (input padded by 2, replicate) equals
    `F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)` exactly
    up to float rounding, borders included (torch clamps source indices, which is what
    replicate padding does).
    """
    n = 11
    delta = torch.zeros(1, 1, 1, n, dtype=torch.float64)
    delta[..., n // 2] = 1.0
    up = F.interpolate(delta, size=(1, n * scale), mode="bicubic", align_corners=False)[0, 0, 0]
    k1 = torch.zeros(scale, 5, dtype=torch.float64)
    for p in range(scale):
        for off in range(-2, 3):
            # weight of LR sample i+off for HR output scale*i+p; the delta sits at n//2
            k1[p, off + 2] = up[scale * (n // 2 - off) + p]
    k2 = torch.einsum("ak,bl->abkl", k1, k1).reshape(scale * scale, 1, 5, 5)
    return k2.float()


class BicubicSkip(nn.Module):
    """Torch-bicubic upsampling expressed in LR space: (N,1,H,W) -> (N,s*s,H,W) before a pixel shuffle.

    Adding a network's (N, s*s, H, W) output to this and shuffling gives a global
    bicubic skip at almost no cost (25*s*s multiply-adds per LR pixel) and no HR-size
    intermediate.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("weight", bicubic_phase_kernels(scale), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Always in (at least) fp32, autocast or not: the skip carries the whole image, and
        # bf16's 8-bit mantissa alone would cost up to a level near white. It is cheap.
        dtype = torch.float32 if x.dtype == torch.bfloat16 else x.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = F.pad(x.to(dtype), (2, 2, 2, 2), mode="replicate")
            return F.conv2d(x, self.weight.to(dtype=dtype))


class InputConv(nn.Conv2d):
    """The first convolution, which sees the image itself: at inference it always runs in fp32.

    Under bf16 autocast the input image would be rounded to an 8-bit mantissa (up to half
    an 8-bit level near white), and the network amplifies that noise: on a trained
    residual net the bf16 output differed from fp32 by up to 1.8 levels, and by 0.5 with
    this layer in fp32. With one input channel it costs next to nothing. In training mode
    it follows autocast like every other layer.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and x.dtype != torch.float16 and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float())
        return super().forward(x)


@torch.no_grad()
def embed_smaller(module: nn.Module, smaller: nn.Module) -> None:
    """Fill the first channels of each of `module`'s tensors with `smaller`'s, so that `module` computes
    exactly what `smaller` does: the extra output channels of a convolution start small and random, and
    every weight from an extra channel into an old one starts at zero (no old channel reads the new
    ones until training gives them weight). Tensors `smaller` lacks keep their initialisation."""
    sources = smaller.state_dict()
    for name, target in module.state_dict().items():
        source = sources.get(name)
        if source is None:
            continue
        if target.dim() == 4:
            target.mul_(0.1)
            target[: source.shape[0], source.shape[1]:] = 0
        target[tuple(slice(0, n) for n in source.shape)] = source
