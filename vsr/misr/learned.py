"""Learned fusion: a multi-frame model (`vsr.models.multiframe`) applied to aligned windows.

The alignment is the classical one (`MultiFrameSR.stack`: DIS flow, warps and confidences on the
CPU); the network replaces the single-frame estimate and the back-projection in one pass.
"""

from __future__ import annotations

from typing import Any

import torch

from vsr.errors import VsrError
from vsr.models.multiframe import is_multi_frame
from vsr.pipeline.engine import choose_device, choose_precision

__all__ = ["LearnedFusion"]


class LearnedFusion:
    """Runs a multi-frame SRModel on `MultiFrameSR` windows; also the pipeline's engine in that mode.

    device/precision as for the single-frame engines ("auto": CUDA if present; half precision
    only for models declared half-safe).
    """

    upscales_chroma = False

    def __init__(self, model: Any, device: str = "auto", precision: str = "auto") -> None:
        if not is_multi_frame(model.module):
            raise VsrError(f"{model.name} is a single-frame model; learned fusion needs a multi-frame one")
        torch_device = choose_device(device)
        self.precision = choose_precision(precision, torch_device, model.supports_half)
        self.name, self.scale, self.frames = model.name, model.scale, model.module.frames
        self.device = torch_device.type
        self._device = torch_device
        self._dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[self.precision]
        self.module = model.module.to(torch_device)

    def __call__(self, stack: torch.Tensor) -> torch.Tensor:
        """(N, 2·frames − 1, h, w) windows in [0, 1] → (N, 1, sh, sw) float32 in 8-bit levels, not clamped."""
        if stack.shape[1] != self.module.in_channels:
            raise ValueError(f"the model takes {self.module.in_channels} channels ({self.frames} frames), "
                             f"got {stack.shape[1]}")
        x = stack.to(self._device, non_blocking=True)
        half = self._dtype != torch.float32
        with torch.inference_mode(), torch.autocast(self._device.type, dtype=self._dtype, enabled=half):
            return self.module(x).float() * 255.0

    def fuse(self, fuser: Any, indices: list[int]) -> torch.Tensor:
        """HR luma of the `fuser`'s (a MultiFrameSR) reference frames `indices`, in its max_value units."""
        if fuser.settings.frames != self.frames:
            raise VsrError(f"model {self.name} fuses {self.frames} frames, the window has {fuser.settings.frames}")
        return self(fuser.stack(indices)) * (fuser.max_value / 255.0)
