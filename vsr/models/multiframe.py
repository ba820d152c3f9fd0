"""The learned multi-frame fusion: a window of aligned LR frames stacked into a residual upscaler.

VESPCN-style early fusion. The input is one window of 2k+1 LR luma planes already warped onto
the reference frame's grid (reference first, then t−k … t+k without t) followed by the 2k
alignment confidences of the neighbours, all in [0, 1]: (N, 2·frames − 1, H, W). The body is the
quality model's (`residual.ResidualSR`), and the global bicubic skip takes the reference alone,
so with the neighbours' input weights at zero the network is exactly the single-frame model:
training can start from the shipped single-frame weights (`init_from_single`) and only learns
what the neighbours add.

With `refine`, the network also takes the classical fusion's HR result (the single-frame model
`single`'s estimate, back-projected from the window by `vsr.misr.fuse`), as its s² sub-pixel
phases on the LR grid, and that result is its skip in place of bicubic: it starts as the
classical fusion exactly and learns to correct it ("both" kinds of fusion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vsr.models.layers import InputConv
from vsr.models.residual import ResidualSR

SCALES = (2, 3, 4)


def stack_channels(frames: int) -> int:
    """Input channels for a window of `frames`: the warped frames and the neighbours' confidences."""
    return 2 * frames - 1


class MultiFrameResidual(ResidualSR):
    """ResidualSR whose head sees the aligned window: (N, 2·frames − 1, H, W) → (N, 1, sH, sW);
    with `refine`, s² more input channels (the classical result's phases), which are also the skip."""

    def __init__(self, scale: int, *, frames: int = 5, channels: int = 48, blocks: int = 8,
                 res_scale: float = 1.0, refine: bool = False, single: str = "residual") -> None:
        if frames < 3 or frames % 2 == 0:
            raise ValueError(f"frames must be odd and at least 3, got {frames}")
        super().__init__(scale, channels=channels, blocks=blocks, res_scale=res_scale)
        self.frames, self.refine, self.single = frames, refine, single
        self.in_channels = stack_channels(frames) + (scale * scale if refine else 0)
        self.head = InputConv(self.in_channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body_tail(self.body(h))
        s2 = self.scale * self.scale
        skip = x[:, -s2:].float() if self.refine else self.skip(x[:, :1])
        return F.pixel_shuffle(self.upsample(h) + skip, self.scale)

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
        if self.refine:  # the skip is the classical fusion now: start there, not at single + its detail again
            self.upsample.weight.zero_()
            self.upsample.bias.zero_()
        self.head.weight.zero_()
        self.head.weight[:, :1].copy_(single.head.weight)
        self.head.bias.copy_(single.head.bias)


class RefiningMultiFrame(MultiFrameResidual):
    """The `refine` variant: corrects the classical fusion of the single-frame model `single`."""

    def __init__(self, scale: int, *, frames: int = 5, channels: int = 48, blocks: int = 8,
                 res_scale: float = 1.0, single: str = "residual") -> None:
        super().__init__(scale, frames=frames, channels=channels, blocks=blocks, res_scale=res_scale,
                         refine=True, single=single)
