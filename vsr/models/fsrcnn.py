"""FSRCNN (Dong et al. 2016): extract -> shrink -> map -> expand -> deconvolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import BicubicSkip, InputConv

SCALES = (2, 3, 4)


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m): conv5x5(d) PReLU, conv1x1(s) PReLU, m x [conv3x3(s) PReLU],
    conv1x1(d) PReLU, then the upsampler.

    upsampler: "deconv" is the paper's 9x9 transposed convolution with stride `scale`;
    "pixelshuffle" replaces it with a 3x3 conv to scale*scale channels + pixel shuffle,
    which does the same job ~6x faster on CPU (field notes).
    global_skip: add torch-bicubic upsampling of the input (residual learning).
    """

    def __init__(
        self,
        scale: int,
        *,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        upsampler: str = "pixelshuffle",
        global_skip: bool = True,
    ) -> None:
        super().__init__()
        if upsampler not in ("deconv", "pixelshuffle"):
            raise ValueError(f"upsampler must be 'deconv' or 'pixelshuffle', got {upsampler!r}")
        self.scale = scale
        self.upsampler = upsampler
        layers: list[nn.Module] = [InputConv(1, d, 5, padding=2), nn.PReLU(d)]  # extract
        layers += [nn.Conv2d(d, s, 1), nn.PReLU(s)]  # shrink
        for _ in range(m):  # map
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]  # expand
        self.body = nn.Sequential(*layers)
        if upsampler == "deconv":
            self.last = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)
            nn.init.normal_(self.last.weight, std=1e-3)
        else:
            self.last = nn.Conv2d(d, scale * scale, 3, padding=1)
        self.global_skip = global_skip
        self.skip = BicubicSkip(scale) if global_skip and upsampler == "pixelshuffle" else None
        if global_skip:
            nn.init.zeros_(self.last.weight)
            nn.init.zeros_(self.last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.last(self.body(x))
        if self.upsampler == "pixelshuffle":
            if self.skip is not None:
                y = y + self.skip(x)
            return F.pixel_shuffle(y, self.scale)
        if self.global_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y
