"""ESPCN (Shi et al. 2016): feature convolutions in low resolution, sub-pixel convolution at the end."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import BicubicSkip, InputConv, embed_smaller

SCALES = (2, 3, 4)


class ESPCN(nn.Module):
    """conv5x5(f1) -> act -> conv3x3(f2) -> act -> conv3x3(s*s) -> pixel shuffle.

    activation: "tanh" (the paper) or "relu" (trains faster here, see field notes).
    global_skip: add torch-bicubic upsampling of the input (computed as a fixed LR-space
    conv before the shuffle, so it costs almost nothing): the network learns the residual.
    """

    def __init__(
        self,
        scale: int,
        *,
        features: tuple[int, int] = (64, 32),
        activation: str = "relu",
        global_skip: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        f1, f2 = features
        self.scale = scale
        self.conv1 = InputConv(1, f1, 5, padding=2)
        self.conv2 = nn.Conv2d(f1, f2, 3, padding=1)
        self.conv3 = nn.Conv2d(f2, scale * scale, 3, padding=1)
        self.act = nn.ReLU(inplace=True) if activation == "relu" else nn.Tanh()
        self.skip = BicubicSkip(scale) if global_skip else None
        if global_skip:
            nn.init.zeros_(self.conv3.weight)
            nn.init.zeros_(self.conv3.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv1(x))
        y = self.act(self.conv2(y))
        y = self.conv3(y)
        if self.skip is not None:
            y = y + self.skip(x)
        return F.pixel_shuffle(y, self.scale)

    @torch.no_grad()
    def grow_from(self, smaller: ESPCN) -> None:
        """Start from a trained model with fewer features: it computes exactly what `smaller` does, and
        training only adds to it (vsr.models.layers.embed_smaller)."""
        old = (_features(smaller), _features(self))
        if smaller.scale != self.scale or any(a > b for a, b in zip(*old)) or type(smaller.act) is not type(self.act) \
                or (smaller.skip is None) != (self.skip is None):
            raise ValueError(f"an x{smaller.scale} ESPCN with features {list(old[0])} cannot grow into "
                             f"x{self.scale} with {list(old[1])} (and the same activation and skip)")
        embed_smaller(self, smaller)


def _features(model: ESPCN) -> tuple[int, int]:
    return model.conv1.out_channels, model.conv2.out_channels
