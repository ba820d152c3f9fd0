"""The CPU engine: the model as a fused oneDNN graph (bf16 where safe), tiled, on a heap that does not page-fault."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import threading
from collections.abc import Iterator

import numpy as np
import torch

from vsr.engine.cpu_graph import CpuGraph, cpu_graph, shuffle_phases
from vsr.engine.tiling import TILE_OVERLAP, ChunkPlan, as_unsigned, forward_resilient, quantise

log = logging.getLogger(__name__)

CPU_TILE = 256
"""The CPU engine works on 256x256 tiles (plus the model's receptive radius): their activations
stay in cache, which measured faster than whole 540p/1080p frames, and memory per call is bounded."""


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
SETTLED_MMAP_THRESHOLD = 32 * 2**20
"""Where glibc's own dynamic mmap threshold ends up on 64-bit systems (it can only be switched off,
not back on): after a run, blocks below it come from the heap, larger ones are mapped and given
back when freed."""
GLIBC_MMAP_MAX = 65536
_runs = 0
_runs_lock = threading.Lock()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, opened once (tune_cpu_allocator runs at every batch)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_cpu_allocator() -> None:
    """Keep freed memory in the heap instead of returning it to the OS.

    Every CPU forward pass allocates hundreds of MB; with glibc's defaults each allocation is a
    fresh mmap whose page faults cost about as much as the convolutions (see field notes).
    The setting is the process's: heap_given_back_after() settles it when the runs end.
    """
    if (libc := _libc()) is not None:
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


@contextlib.contextmanager
def heap_given_back_after() -> Iterator[None]:
    """Around a run (vsr.upscale_video, a segmented job, a folder, a benchmark, an experiment): when
    the last run in the process ends, the heap's free memory goes back to the OS, and blocks from
    SETTLED_MMAP_THRESHOLD up are mapped again (given back when freed), as glibc's dynamic
    threshold would have them: a program that embeds vsr would otherwise keep its peak for the
    rest of its life. (glibc's dynamic threshold cannot be switched on again once a mallopt
    switched it off; the settled values are what it reaches.)"""
    global _runs
    with _runs_lock:
        _runs += 1
    try:
        yield
    finally:
        with _runs_lock:
            _runs -= 1
            if _runs == 0 and (libc := _libc()) is not None:
                libc.mallopt(M_MMAP_THRESHOLD, SETTLED_MMAP_THRESHOLD)
                libc.mallopt(M_TRIM_THRESHOLD, 2 * SETTLED_MMAP_THRESHOLD)
                libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
                libc.malloc_trim(0)


class CpuEngine:
    """The model on the CPU as a fused oneDNN graph (bf16 where safe), quantised and pixel-shuffled
    in 8 bits, on a heap that does not page-fault. Falls back to the model under autocast where
    the graph cannot be built."""

    device = "cpu"
    upscales_chroma = False

    def __init__(self, module: torch.nn.Module, scale: int, precision: str, max_value: int) -> None:
        tune_cpu_allocator()
        self.scale = scale
        self.precision = precision
        self.max_value = max_value
        try:
            self.graph: CpuGraph | None = cpu_graph(module, precision, max_value)
            self.module = self.graph.module
            overlap = self.graph.radius
            with torch.inference_mode():  # a CPU or torch build without these oneDNN kernels fails here
                self.module(torch.zeros((1, 1, 8, 8), dtype=self.graph.input_dtype))
        except Exception as error:  # noqa: BLE001 - any failure of the graph means: run the plain module
            log.debug("no fused CPU graph for this model (%s); running it under autocast", error)
            self.graph = None
            self.module = module.eval().to(memory_format=torch.channels_last)
            overlap = TILE_OVERLAP
        self.plan = ChunkPlan(tile=CPU_TILE, overlap=overlap)

    def submit(self, lumas: list[np.ndarray]) -> np.ndarray:
        tune_cpu_allocator()  # again: another thread's run may have ended and settled the heap (a few µs)
        x = torch.from_numpy(np.stack(lumas)).unsqueeze(1)
        if self.graph is not None and self.graph.levels:
            x = x.to(self.graph.input_dtype)
        else:
            x = x.to(torch.float32).mul_(1.0 / self.max_value)
        x = x.contiguous(memory_format=torch.channels_last)
        phases = self.graph is not None and not self.graph.shuffled
        with torch.inference_mode():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16" and self.graph is None):
                y = forward_resilient(self.module, x, 1 if phases else self.scale, self.plan)
            # inside inference mode: quantise works in place, and y is an inference tensor
            quantised = quantise(y, self.max_value)
            image = shuffle_phases(quantised, self.scale) if phases else quantised.squeeze(1)
        return as_unsigned(image.contiguous().numpy())

    def collect(self, handle: np.ndarray) -> list[np.ndarray]:
        return list(handle)
