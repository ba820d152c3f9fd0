"""The one way a network runs on a single luma plane (or a multi-frame window) outside the video engines.

Still images, `vsr eval` and training validation all go through `run_luma`; the video engines
(`vsr.engine`) batch, tile and quantise on top of the same contract.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn


def run_luma(
    module: nn.Module,
    plane: np.ndarray,
    *,
    max_value: float = 255,
    device: torch.device | str = "cpu",
    autocast: torch.dtype | None = None,
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """`module` on one (h, w) luma plane, or a multi-frame model on its (C, h, w) window.

    plane: samples in [0, max_value] (any real dtype; max_value=1 for planes already in [0, 1]).
    Returns float32 (s·h, s·w) in the same units, neither clamped nor rounded.
    The module is moved to `device` (in place, as `nn.Module.to` does) and runs in inference
    mode, under autocast to `autocast` (torch.bfloat16 / torch.float16) or in fp32 when None;
    the input is cast to `dtype` (a half copy of a module takes torch.float16).
    """
    device = torch.device(device)
    x = np.ascontiguousarray(plane, dtype=np.float32) / max_value
    batch = torch.from_numpy(x)[None, None] if x.ndim == 2 else torch.from_numpy(x)[None]
    module = module.to(device)
    half = contextlib.nullcontext() if autocast is None else torch.autocast(device_type=device.type, dtype=autocast)
    with torch.inference_mode(), half:
        y = module(batch.to(device, dtype))
    return y.float()[0, 0].cpu().numpy() * max_value
