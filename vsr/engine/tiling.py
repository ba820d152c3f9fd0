"""Running a module on batches that may not fit: chunks, tiles with context, shrinking on out-of-memory."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)


def quantise(y: torch.Tensor, max_value: int) -> torch.Tensor:
    """Floats in [0,1] → integers in [0, max_value] (uint8, or int16 above 8 bits), rounded to nearest."""
    y = y.float().mul_(max_value).round_().clamp_(0, max_value)
    return y.to(torch.uint8 if max_value <= 255 else torch.int16)


def as_unsigned(array: np.ndarray) -> np.ndarray:
    """int16 samples (torch has no uint16) seen as the uint16 they are."""
    return array.view(np.uint16) if array.dtype == np.int16 else array


TILE_OVERLAP = 24
"""Low-resolution pixels of context around each tile: more than the shipped models' receptive
radius (19 px for the residual model), so tiled output matches untiled output."""
MIN_TILE = 32


def forward_tiled(module: torch.nn.Module, x: torch.Tensor, scale: int, tile: int, overlap: int = TILE_OVERLAP) -> torch.Tensor:
    """The module on (N, C, H, W) tile by tile (each with `overlap` pixels of context), stitched."""
    n, _, height, width = x.shape
    out: torch.Tensor | None = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(0, top - overlap), max(0, left - overlap)
            y1, x1 = min(height, bottom + overlap), min(width, right + overlap)
            y = module(x[:, :, y0:y1, x0:x1])
            if out is None:
                layout = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
                shape = (n, y.shape[1], height * scale, width * scale)
                out = torch.empty(shape, dtype=y.dtype, device=y.device, memory_format=layout)
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = y[
                :, :, (top - y0) * scale : (bottom - y0) * scale, (left - x0) * scale : (right - x0) * scale
            ]
    assert out is not None
    return out


@dataclass
class ChunkPlan:
    """How much of a batch goes through the model at once: shrinks on out-of-memory, never grows."""

    batch: int = 1 << 30
    tile: int | None = None
    overlap: int = TILE_OVERLAP


def forward_resilient(module: torch.nn.Module, x: torch.Tensor, scale: int, plan: ChunkPlan) -> torch.Tensor:
    """The module on every frame of `x`. On out-of-memory: halve the batch, then cut frames into
    tiles and halve the tiles, down to MIN_TILE; no frame is ever dropped."""
    if plan.batch >= x.shape[0] and plan.tile is None:
        try:
            return module(x)
        except torch.OutOfMemoryError:
            _shrink(plan, x)
    outputs = []
    start = 0
    while start < x.shape[0]:
        chunk = x[start : start + plan.batch]
        try:
            y = module(chunk) if plan.tile is None else forward_tiled(module, chunk, scale, plan.tile, plan.overlap)
        except torch.OutOfMemoryError:
            _shrink(plan, chunk)
            continue
        outputs.append(y)
        start += chunk.shape[0]
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def _shrink(plan: ChunkPlan, chunk: torch.Tensor) -> None:
    if chunk.is_cuda:
        torch.cuda.empty_cache()
    if chunk.shape[0] > 1:
        plan.batch = max(1, chunk.shape[0] // 2)
        log.warning("out of memory: model batch reduced to %d frame(s)", plan.batch)
        return
    size = plan.tile or max(chunk.shape[-2:])
    if size // 2 < MIN_TILE:
        raise torch.OutOfMemoryError(f"out of memory even for one {MIN_TILE}x{MIN_TILE} tile")
    plan.tile = size // 2
    log.warning("out of memory: running the model on %dx%d tiles", plan.tile, plan.tile)
