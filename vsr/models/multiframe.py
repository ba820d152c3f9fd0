"""The learned multi-frame fusion: a window of aligned LR frames stacked into a residual upscaler.

VESPCN-style early fusion. The input is one window of 2k+1 LR luma planes already warped onto
the reference frame's grid (reference first, then t−k … t+k without t) followed by the 2k
alignment confidences of the neighbours, all in [0, 1]: (N, 2·frames − 1, H, W). The body is the
quality model's (`residual.ResidualSR`), and the global bicubic skip takes the reference alone,
so with the neighbours' input weights at zero the network is exactly the single-frame model:
training can start from the shipped single-frame weights (`init_from_single`) and only learns
what the neighbours add.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import InputConv
from vsr.models.residual import ResidualSR

SCALES = (2, 3, 4)


def stack_channels(frames: int) -> int:
    """Input channels for a window of `frames`: the warped frames and the neighbours' confidences."""
    return 2 * frames - 1


class MultiFrameResidual(ResidualSR):
    """ResidualSR whose head sees the aligned window: (N, 2·frames − 1, H, W) → (N, 1, sH, sW)."""

    def __init__(self, scale: int, *, frames: int = 5, channels: int = 48, blocks: int = 8,
                 res_scale: float = 1.0) -> None:
        if frames < 3 or frames % 2 == 0:
            raise ValueError(f"frames must be odd and at least 3, got {frames}")
        super().__init__(scale, channels=channels, blocks=blocks, res_scale=res_scale)
        self.frames = frames
        self.in_channels = stack_channels(frames)
        self.head = InputConv(self.in_channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body_tail(self.body(h))
        y = self.upsample(h) + self.skip(x[:, :1])
        return F.pixel_shuffle(y, self.scale)

    @torch.no_grad()
    def init_from_single(self, single: ResidualSR) -> None:
        """Copy a single-frame ResidualSR of the same size; the neighbours' input weights start at zero."""
        state = {k: v for k, v in single.state_dict().items() if not k.startswith("head.")}
        own = {k: v for k, v in self.state_dict().items() if not k.startswith("head.")}
        misfits = sorted(k for k in own.keys() | state.keys() if k not in state or k not in own
                         or state[k].shape != own[k].shape)
        if misfits or single.head.weight.shape[1] != 1:
            raise ValueError(f"the single-frame model does not fit: {', '.join(misfits) or 'its head'} differ")
        self.load_state_dict(state, strict=False)
        self.head.weight.zero_()
        self.head.weight[:, :1].copy_(single.head.weight)
        self.head.bias.copy_(single.head.bias)


def is_multi_frame(module: nn.Module) -> bool:
    return isinstance(module, MultiFrameResidual)
