"""SRCNN (Dong et al. 2014): bicubic upsampling first, then three convolutions refine at high resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.layers import InputConv

SCALES = (2, 3, 4)


class SRCNN(nn.Module):
    """bicubic xS -> conv9x9(f1) ReLU -> conv5x5(f2) ReLU -> conv5x5(1).

    The pre-upsampling reference design: every convolution runs at the output
    resolution, so it costs ~scale^2 times an LR-space network of the same size.
    global_skip: the network predicts the residual over bicubic (as VDSR), which makes
    short training runs converge; False is the paper's form.
    """

    def __init__(
        self,
        scale: int,
        *,
        features: tuple[int, int] = (64, 32),
        kernels: tuple[int, int, int] = (9, 5, 5),
        global_skip: bool = True,
    ) -> None:
        super().__init__()
        f1, f2 = features
        k1, k2, k3 = kernels
        self.scale = scale
        self.conv1 = InputConv(1, f1, k1, padding=k1 // 2, padding_mode="replicate")
        self.conv2 = nn.Conv2d(f1, f2, k2, padding=k2 // 2, padding_mode="replicate")
        self.conv3 = nn.Conv2d(f2, 1, k3, padding=k3 // 2, padding_mode="replicate")
        self.global_skip = global_skip
        if global_skip:
            nn.init.zeros_(self.conv3.weight)
            nn.init.zeros_(self.conv3.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        y = F.relu(self.conv1(up), inplace=True)
        y = F.relu(self.conv2(y), inplace=True)
        y = self.conv3(y)
        return y + up if self.global_skip else y
