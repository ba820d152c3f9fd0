"""Running a module on batches that may not fit: chunks, tiles with context, shrinking on out-of-memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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


def receptive_radius(module: torch.nn.Module) -> int:
    """An upper bound, in input pixels, on how far from a pixel the module looks to compute its output:
    the sum of its convolutions' radii (a path through the network crosses each at most once), plus
    2 for a bicubic resampling (an interpolation or a bicubic skip). Tiles with this much context
    give the untiled result, as long as the module is convolutional (tested for every architecture)."""
    radius = 2
    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            radius += max(d * (k - 1) // 2 for k, d in zip(layer.kernel_size, layer.dilation))
    return radius


@dataclass(frozen=True)
class Span:
    """Samples [start, stop) of one axis, computed from samples [context_start, context_stop) around them."""

    start: int
    stop: int
    context_start: int
    context_stop: int

    @property
    def context(self) -> slice:
        """The samples the span is computed from."""
        return slice(self.context_start, self.context_stop)

    def inner(self, scale: int) -> slice:
        """Where the span's own samples lie in its upscaled context samples."""
        return slice((self.start - self.context_start) * scale, (self.stop - self.context_start) * scale)

    def output(self, scale: int, origin: int = 0) -> slice:
        """Where the span's upscaled samples go in an output that starts at input sample `origin`."""
        return slice((self.start - origin) * scale, (self.stop - origin) * scale)


def spans(start: int, stop: int, size: int, context: int, length: int) -> Iterator[Span]:
    """Spans of `size` samples (the last may be shorter) covering [start, stop) of an axis of `length`
    samples, each with up to `context` samples on either side (fewer at the ends of the axis)."""
    for first in range(start, stop, size):
        last = min(first + size, stop)
        yield Span(first, last, max(0, first - context), min(length, last + context))


def forward_tiled(module: torch.nn.Module, x: torch.Tensor, scale: int, tile: int, overlap: int = TILE_OVERLAP) -> torch.Tensor:
    """The module on (N, C, H, W) tile by tile (each with `overlap` pixels of context), stitched."""
    n, _, height, width = x.shape
    out: torch.Tensor | None = None
    for rows in spans(0, height, tile, overlap, height):
        for cols in spans(0, width, tile, overlap, width):
            y = module(x[:, :, rows.context, cols.context])
            if out is None:
                layout = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
                shape = (n, y.shape[1], height * scale, width * scale)
                out = torch.empty(shape, dtype=y.dtype, device=y.device, memory_format=layout)
            out[:, :, rows.output(scale), cols.output(scale)] = y[:, :, rows.inner(scale), cols.inner(scale)]
    assert out is not None
    return out


def pad_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, ...) → (size, ...) with zero frames after the N given (N ≤ size): a short last batch keeps
    the shape the convolution kernels were chosen for (cuDNN's benchmark mode times every
    algorithm again for each new shape: about a second for a 1080p batch)."""
    if x.shape[0] >= size:
        return x
    return torch.cat([x, x.new_zeros((size - x.shape[0], *x.shape[1:]))]).contiguous(memory_format=torch.channels_last)


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
