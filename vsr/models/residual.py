"""The quality model: an EDSR/SRResNet-style residual network sized for video rates.

Residual blocks without batch norm, a long skip over the body, a sub-pixel (pixel
shuffle) upsampler, and a global bicubic skip whose last convolution starts at zero, so
the untrained network is exactly bicubic and training only adds detail.
All convolutions run at the input (LR) resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import BicubicSkip, InputConv, embed_smaller
from vsr.options import CLEANUP_SCALE

SCALES = (2, 3, 4)
CLEANUP_SCALES = (CLEANUP_SCALE, *SCALES)
"""Scales of the bodies trained on damaged input: at x1 the net cleans a frame without upscaling
(its skip is the identity, its last convolution one channel)."""


class ResBlock(nn.Module):
    def __init__(self, channels: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x), inplace=True))


class ResidualSR(nn.Module):
    """head conv3x3(C) -> blocks x ResBlock(C) -> conv3x3(C) (+ head) -> conv3x3(s*s) -> shuffle, + bicubic."""

    def __init__(self, scale: int, *, channels: int = 32, blocks: int = 8, res_scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.head = InputConv(1, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(channels, res_scale) for _ in range(blocks)])
        self.body_tail = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsample = nn.Conv2d(channels, scale * scale, 3, padding=1)
        self.skip = BicubicSkip(scale)
        nn.init.zeros_(self.upsample.weight)
        nn.init.zeros_(self.upsample.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body_tail(self.body(h))
        y = self.upsample(h) + self.skip(x)
        return F.pixel_shuffle(y, self.scale)

    @torch.no_grad()
    def grow_from(self, smaller: ResidualSR) -> None:
        """Start from a trained model with fewer blocks or channels: it computes exactly what `smaller`
        does, and training only adds to it.

        Its layers fill the first channels of each of ours; the extra blocks' last convolutions
        start at zero (identities). The extra channels start small and random, and no old channel
        (nor the upsampler) reads them until training gives them weight: every weight from an extra
        channel into an old one starts at zero.
        """
        old_channels, channels = smaller.body_tail.in_channels, self.body_tail.in_channels
        if smaller.scale != self.scale or len(smaller.body) > len(self.body) or old_channels > channels:
            raise ValueError(f"a {len(smaller.body)}-block x{smaller.scale} model with {old_channels} "
                             f"channels cannot grow into {len(self.body)} blocks x{self.scale} with {channels}")
        if old_channels == channels:
            self.load_state_dict(smaller.state_dict(), strict=False)
        else:
            embed_smaller(self, smaller)
        for block in self.body[len(smaller.body):]:
            nn.init.zeros_(block.conv2.weight)
            nn.init.zeros_(block.conv2.bias)
