"""SRModel: a loaded model and what it is (scale, window, purpose, degradation, half-safety, sizes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vsr.device import DTYPES, EXPLICIT_PRECISIONS
from vsr.errors import UnsupportedModelError
from vsr.models.bicubic import Bicubic
from vsr.models.ensemble import self_ensemble
from vsr.models.luma import run_luma
from vsr.models.registry import BI, PURPOSES, SUPER_RESOLUTION

@dataclass(frozen=True)
class SRModel:
    """A ready-to-run model and its inference contract (as spandrel's descriptors).

    module: eval mode, float32, on CPU. Input (N, 1, H, W) float32 luma in [0, 1] (BT.601 Y / 255),
    or for a multi-frame model its aligned window (N, in_channels, H, W); output
    (N, 1, scale*H, scale*W), not clamped.
    supports_half: fp16/bf16 inference keeps outputs within one 8-bit level of fp32.
    config: the training config the weights were made with (None for an untrained model).
    frames: 1, or a multi-frame model's window (odd, at least 3).
    purpose: "super-resolution" or "restoration".
    degradation: what the model was trained for, e.g. "bicubic downscale (BI)".
    learned: False for a fixed interpolation (bicubic): the video engines resize with OpenCV
    instead of running `module`.
    size_multiple, min_size: input sides must be multiples of `size_multiple` and at least
    `min_size` pixels; the engines need nothing more (they tile any size).
    """

    name: str
    scale: int
    module: nn.Module
    supports_half: bool
    config: str | None
    frames: int = 1
    purpose: str = SUPER_RESOLUTION
    degradation: str = BI
    learned: bool = True
    size_multiple: int = 1
    min_size: int = 1

    def __post_init__(self) -> None:
        # A hand-built descriptor of a multi-frame or bicubic module still says what the module is.
        if self.frames == 1 and getattr(self.module, "frames", 1) > 1:
            object.__setattr__(self, "frames", int(self.module.frames))
        if isinstance(self.module, Bicubic):
            object.__setattr__(self, "learned", False)
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, got {self.purpose!r}")
        if self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"frames must be 1 or an odd window, got {self.frames}")

    @property
    def is_multi_frame(self) -> bool:
        """True for a model that takes an aligned window of frames (learned fusion), not one plane."""
        return self.frames > 1

    def run_luma(self, plane: np.ndarray, *, max_value: float = 255, precision: str = "fp32",
                 device: torch.device | str = "cpu", ensemble: bool = False) -> np.ndarray:
        """The model on one (h, w) luma plane in [0, max_value]: float32 (s·h, s·w), same units,
        not clamped (see `vsr.models.luma.run_luma`).

        precision: "fp32", or "bf16"/"fp16" (autocast) only for a model with supports_half.
        ensemble: the mean over the plane's 8 orientations (`vsr.models.ensemble`; a single-frame model).
        Raises ValueError for an unknown precision, UnsupportedModelError for an unsafe one.
        """
        if precision not in EXPLICIT_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(EXPLICIT_PRECISIONS)}, got {precision!r}")
        if precision != "fp32" and not self.supports_half:
            raise UnsupportedModelError(f"model {self.name} x{self.scale} is not declared safe for {precision}")
        autocast = None if precision == "fp32" else DTYPES[precision]
        if not ensemble:
            return run_luma(self.module, plane, max_value=max_value, device=device, autocast=autocast)
        if self.is_multi_frame:
            raise UnsupportedModelError(f"{self.name} is a multi-frame model: its self-ensemble runs in the learned fusion")
        return self_ensemble(lambda planes: [run_luma(self.module, planes[0], max_value=max_value, device=device,
                                                      autocast=autocast)], [plane])[0]
