"""Learned fusion: a multi-frame model (`vsr.models.multiframe`) applied to aligned windows.

The alignment is the classical one (`MultiFrameSR.stack`: DIS flow, warps and confidences on the
CPU). A plain multi-frame model replaces the single-frame estimate and the back-projection in one
pass; a `refine` model also takes the classical fusion of its single-frame model's estimate and
corrects it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vsr.device import DTYPES, choose_device, choose_precision, cudnn_settings
from vsr.engine import LumaEngine, make_engine
from vsr.errors import UnsupportedModelError
from vsr.models import SRModel, load_model
from vsr.models.ensemble import ORIENTATIONS, orient_phases, orient_tensor, unorient_tensor
from vsr.models.multiframe import stack_channels

__all__ = ["LearnedFusion", "fusion_inputs", "single_frame_engine"]


def single_frame_engine(module: Any, scale: int, device: str = "cpu", precision: str = "auto",
                        single: SRModel | None = None, ensemble: bool = False) -> LumaEngine | None:
    """For a `refine` model, the engine of the single-frame model whose classical fusion it corrects.

    single: that model (default: the shipped `module.single` at `scale`); training passes the
    model it starts from, so that its windows do not change when the shipped one does.
    ensemble: that engine runs on the 8 orientations (`make_engine`).
    """
    if not getattr(module, "refine", False):
        return None
    single = single or load_model(module.single, scale)
    if precision != "fp32" and not single.supports_half:
        precision = "fp32"
    return make_engine(single, device, precision, 255, ensemble)


def fusion_inputs(fuser: Any, indices: list[int], engine: LumaEngine | None = None) -> torch.Tensor:
    """The network input for `fuser`'s (a MultiFrameSR) reference frames `indices`, in [0, 1] on the CPU.

    The aligned window (`MultiFrameSR.stack`); with `engine` (a refine model's single-frame
    engine), followed by the classical fusion of its estimate as s² sub-pixel phases. The
    single-frame model sees 8-bit luma (as it was trained), whatever the video's bit depth.
    """
    stack = fuser.stack(indices)
    if engine is None:
        return stack
    lumas = [np.rint(fuser.plane(i) * (255.0 / fuser.max_value)).astype(np.uint8) for i in indices]
    inits = [p * (fuser.max_value / 255.0) for p in engine.collect(engine.submit(lumas))]
    classical = fuser.fuse(indices, inits).cpu()
    phases = F.pixel_unshuffle(classical / fuser.max_value, fuser.scale)
    return torch.cat([stack, phases], dim=1)


class LearnedFusion:
    """Runs a multi-frame SRModel on `MultiFrameSR` windows; also the pipeline's engine in that mode.

    device/precision as for the single-frame engines ("auto": CUDA if present; half precision
    only for models declared half-safe). ensemble: each window through the network in its 8
    orientations, averaged (`vsr.models.ensemble`), and a refine model's single-frame estimate too.
    """

    upscales_chroma = False

    def __init__(self, model: SRModel, device: str = "auto", precision: str = "auto", ensemble: bool = False) -> None:
        if not model.is_multi_frame:
            raise UnsupportedModelError(f"{model.name} is a single-frame model; learned fusion needs a multi-frame one")
        torch_device = choose_device(device)
        self.precision = choose_precision(precision, torch_device, model.supports_half)
        self.name, self.scale, self.frames = model.name, model.scale, model.frames
        self.device = torch_device.type
        self._device = torch_device
        self._dtype = DTYPES[self.precision]
        self.module = copy.deepcopy(model.module).to(torch_device)  # not the caller's, moved in place
        self.single = single_frame_engine(model.module, model.scale, self.device, precision, ensemble=ensemble)
        self.ensemble = ensemble

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, h, w) inputs in [0, 1] → (N, 1, sh, sw) float32 in 8-bit levels, not clamped."""
        if inputs.shape[1] != self.module.in_channels:
            raise ValueError(f"the model takes {self.module.in_channels} channels ({self.frames} frames), "
                             f"got {inputs.shape[1]}")
        x = inputs.to(self._device, non_blocking=True)
        half = self._dtype != torch.float32
        with torch.inference_mode(), torch.autocast(self._device.type, dtype=self._dtype, enabled=half), \
                cudnn_settings(self.precision):
            return self.module(x).float() * 255.0

    def fuse(self, fuser: Any, indices: list[int]) -> torch.Tensor:
        """HR luma of the `fuser`'s (a MultiFrameSR) reference frames `indices`, in its max_value units."""
        if fuser.settings.frames != self.frames:
            raise UnsupportedModelError(f"model {self.name} fuses {self.frames} frames, the window has {fuser.settings.frames}")
        inputs = fusion_inputs(fuser, indices, self.single)
        fused = self.self_ensemble(inputs) if self.ensemble else self(inputs)
        return fused * (fuser.max_value / 255.0)

    def self_ensemble(self, inputs: torch.Tensor) -> torch.Tensor:
        """`self(inputs)` averaged over the 8 orientations of the windows. A refine model's phases of
        the classical result are turned as the high-resolution image they are, not phase by phase."""
        window_channels = stack_channels(self.frames)
        total = torch.zeros(())
        for turns, flip in ORIENTATIONS:
            turned = orient_tensor(inputs[:, :window_channels], turns, flip)
            if inputs.shape[1] > window_channels:
                phases = orient_phases(inputs[:, window_channels:], self.scale, turns, flip)
                turned = torch.cat([turned, phases], dim=1)
            total = total + unorient_tensor(self(turned.contiguous()), turns, flip)
        return total / len(ORIENTATIONS)
