"""The device engine: batches of luma planes in, upscaled luma planes out.

`submit` starts a batch and `collect` returns its result. On the CPU `submit` does the work; on
CUDA it only enqueues it (host→device copy on a copy stream from pinned memory, the model on a
compute stream, the device→host copy back on the copy stream), so the next batch's copy and the
CPU work around it overlap the current batch's compute. Events, never a device-wide synchronise,
order the streams, and the host waits once per batch.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsr.errors import VsrError
from vsr.models.multiframe import is_multi_frame
from vsr.pipeline.cpu_graph import CpuGraph, build_cpu_graph, shuffle_phases

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")


class LumaEngine(Protocol):
    scale: int
    device: str
    precision: str
    upscales_chroma: bool
    """True: `submit_frames`/`collect_frames` take and return every plane (the CUDA engine);
    False: the caller upscales chroma."""

    def submit(self, lumas: list[np.ndarray]) -> Any: ...

    def collect(self, handle: Any) -> list[np.ndarray]:
        """The upscaled planes of a submitted batch, valid until the second `submit` after this one."""
        ...


def choose_device(device: str) -> torch.device:
    if device not in DEVICES:
        raise VsrError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise VsrError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_precision(precision: str, device: torch.device, supports_half: bool) -> str:
    """fp16 on CUDA and bf16 on CPUs with native bf16, where the model is declared half-safe; else fp32."""
    if precision not in PRECISIONS:
        raise VsrError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if not supports_half:
            return "fp32"
        if device.type == "cuda":
            return "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision != "fp32" and not supports_half:
        raise VsrError(f"this model is not declared safe in half precision; use --precision fp32 (asked: {precision})")
    if precision == "fp16" and device.type == "cpu":
        raise VsrError("fp16 is not a fast path on the CPU; use --precision bf16 or fp32")
    return precision


def tune_cpu_allocator() -> None:
    """Keep freed memory in the heap instead of returning it to the OS.

    Every CPU forward pass allocates hundreds of MB; with glibc's defaults each allocation is a
    fresh mmap whose page faults cost about as much as the convolutions (see field notes).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2**31 - 1)


def _quantise(y: torch.Tensor, max_value: int) -> torch.Tensor:
    """Floats in [0,1] → integers in [0, max_value] (uint8, or int16 above 8 bits), rounded to nearest."""
    y = y.float().mul_(max_value).round_().clamp_(0, max_value)
    return y.to(torch.uint8 if max_value <= 255 else torch.int16)


TILE_OVERLAP = 24
"""Low-resolution pixels of context around each tile: more than the shipped models' receptive
radius (19 px for the residual model), so tiled output matches untiled output."""
MIN_TILE = 32
CPU_TILE = 256
"""The CPU engine works on 256x256 tiles (plus the model's receptive radius): their activations
stay in cache, which measured faster than whole 540p/1080p frames, and memory per call is bounded."""


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


def _as_unsigned(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint16) if array.dtype == np.int16 else array


class BicubicEngine:
    """No network: OpenCV's bicubic resize, the fastest way to the bicubic baseline."""

    device = "cpu"
    precision = "uint"
    upscales_chroma = False

    def __init__(self, scale: int, max_value: int = 255) -> None:
        self.scale = scale
        self.max_value = max_value

    def submit(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        return [upscale_bicubic(luma, self.scale, self.max_value) for luma in lumas]

    def collect(self, handle: list[np.ndarray]) -> list[np.ndarray]:
        return handle


def upscale_bicubic(plane: np.ndarray, scale: int, max_value: int = 255) -> np.ndarray:
    """OpenCV's bicubic resize, clamped to [0, max_value] (it saturates 16-bit samples only at 65535)."""
    height, width = plane.shape
    out = cv2.resize(plane, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
    if out.dtype == np.uint16:
        np.minimum(out, max_value, out=out)
    return out


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
            self.graph: CpuGraph | None = build_cpu_graph(module, precision, max_value)
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
            # inside inference mode: _quantise works in place, and y is an inference tensor
            quantised = _quantise(y, self.max_value)
            image = shuffle_phases(quantised, self.scale) if phases else quantised.squeeze(1)
        return _as_unsigned(image.contiguous().numpy())

    def collect(self, handle: np.ndarray) -> list[np.ndarray]:
        return list(handle)


@dataclass
class _CudaBatch:
    slot: int
    count: int
    planes: int
    done: torch.cuda.Event


def upscale_bicubic_tensor(planes: torch.Tensor, scale: int, max_value: int) -> torch.Tensor:
    """(N, h, w) integer planes → (N, sh, sw) bicubic upscaled, rounded and clamped, same dtype.

    torch's bicubic (a = −0.75, pixel centres, clamped edges) is OpenCV's INTER_CUBIC, so this
    matches `upscale_bicubic` within one level (tested); it is the chroma path on the GPU.
    """
    x = planes.unsqueeze(1).to(torch.float32)
    y = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return y.squeeze(1).round_().clamp_(0, max_value).to(planes.dtype)


class CudaEngine:
    """The model on a CUDA device, with pinned host buffers in a ring of two and two streams.

    Chroma is upscaled (bicubic) and every plane quantised on the device too (`submit_frames`),
    so the host only copies 8/16-bit planes in and out.
    """

    device = "cuda"
    upscales_chroma = True

    def __init__(self, module: torch.nn.Module, scale: int, precision: str, max_value: int, device: torch.device) -> None:
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
        self.module = module.eval().to(device=device, dtype=self.dtype, memory_format=torch.channels_last)
        self.scale = scale
        self.precision = precision
        self.max_value = max_value
        self.torch_device = device
        self.copy_stream = torch.cuda.Stream(device)
        self.compute_stream = torch.cuda.Stream(device)
        self._host: dict[tuple[str, int, int], torch.Tensor] = {}  # (direction, plane, slot) → pinned buffer
        self._slot = 0
        self.plan = ChunkPlan()
        torch.backends.cudnn.benchmark = True

    def _pinned(self, key: tuple[str, int, int], shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        buffer = self._host.get(key)
        if buffer is None or buffer.dtype != dtype or buffer.shape[1:] != shape[1:] or buffer.shape[0] < shape[0]:
            buffer = torch.empty(shape, dtype=dtype, pin_memory=True)
            self._host[key] = buffer
        return buffer[: shape[0]]

    def submit(self, lumas: list[np.ndarray]) -> _CudaBatch:
        return self.submit_frames([[luma] for luma in lumas])

    def collect(self, handle: _CudaBatch) -> list[np.ndarray]:
        return [planes[0] for planes in self.collect_frames(handle)]

    def submit_frames(self, frames: list[list[np.ndarray]]) -> _CudaBatch:
        """Start a batch of frames, each [luma, *chroma]: luma through the model, chroma bicubic."""
        slot, self._slot = self._slot, 1 - self._slot
        count, planes = len(frames), len(frames[0])
        in_dtype = torch.uint8 if self.max_value <= 255 else torch.int16
        host_in = []
        for p in range(planes):
            buffer = self._pinned(("in", p, slot), (count, *frames[0][p].shape), in_dtype)
            array = buffer.numpy()
            for i, frame in enumerate(frames):
                np.copyto(array[i], frame[p].view(array.dtype))
            host_in.append(buffer)
        with torch.cuda.stream(self.copy_stream):
            device_in = [buffer.to(self.torch_device, non_blocking=True) for buffer in host_in]
            copied_in = torch.cuda.Event()
            copied_in.record(self.copy_stream)
        self.compute_stream.wait_event(copied_in)
        for tensor in device_in:
            tensor.record_stream(self.compute_stream)
        with torch.cuda.stream(self.compute_stream), torch.inference_mode():
            x = device_in[0].unsqueeze(1).to(self.dtype).mul_(1.0 / self.max_value)
            x = x.contiguous(memory_format=torch.channels_last)
            outputs = [_quantise(forward_resilient(self.module, x, self.scale, self.plan), self.max_value).squeeze(1)]
            outputs += [upscale_bicubic_tensor(chroma, self.scale, self.max_value) for chroma in device_in[1:]]
            computed = torch.cuda.Event()
            computed.record(self.compute_stream)
        self.copy_stream.wait_event(computed)
        with torch.cuda.stream(self.copy_stream):
            for p, tensor in enumerate(outputs):
                tensor.record_stream(self.copy_stream)
                self._pinned(("out", p, slot), tuple(tensor.shape), tensor.dtype).copy_(tensor, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.copy_stream)
        return _CudaBatch(slot, count, planes, done)

    def suggest_batch(self, width: int, height: int, limit: int = 32) -> int:
        """Frames per batch from the free device memory and the model's measured cost per pixel."""
        probe_side = 64
        x = torch.zeros((1, 1, probe_side, probe_side), device=self.torch_device, dtype=self.dtype)
        torch.cuda.synchronize(self.torch_device)
        before = torch.cuda.memory_allocated(self.torch_device)
        torch.cuda.reset_peak_memory_stats(self.torch_device)
        with torch.inference_mode():
            self.module(x.contiguous(memory_format=torch.channels_last))
        per_pixel = (torch.cuda.max_memory_allocated(self.torch_device) - before) / probe_side**2
        free, _ = torch.cuda.mem_get_info(self.torch_device)
        per_frame = per_pixel * width * height * 1.5 + width * height * (1 + self.scale**2) * 4
        return max(1, min(limit, int(0.5 * free // max(per_frame, 1.0))))

    def collect_frames(self, handle: _CudaBatch) -> list[list[np.ndarray]]:
        """The upscaled planes of a submitted batch, per frame; valid until the second submit after it."""
        handle.done.synchronize()
        planes = [_as_unsigned(self._host[("out", p, handle.slot)][: handle.count].numpy()) for p in range(handle.planes)]
        return [[plane[i] for plane in planes] for i in range(handle.count)]


def make_engine(model: Any, device: str = "auto", precision: str = "auto", max_value: int = 255) -> LumaEngine:
    """Pick the engine for a loaded model (an `SRModel`) on the requested device and precision."""
    torch_device = choose_device(device)
    if model.name == "bicubic":
        return BicubicEngine(model.scale, max_value)
    if is_multi_frame(model.module):
        raise VsrError(f"{model.name} is a multi-frame model: use it on a video with --mode multi")
    chosen = choose_precision(precision, torch_device, model.supports_half)
    if torch_device.type == "cuda":
        return CudaEngine(model.module, model.scale, chosen, max_value, torch_device)
    return CpuEngine(model.module, model.scale, chosen, max_value)


def default_batch_size(engine: LumaEngine, width: int, height: int) -> int:
    """On CUDA, what fits in half the free memory (at most 32); on the CPU about half a megapixel
    per batch, since batching there only saves per-call overhead."""
    if isinstance(engine, CudaEngine):
        return engine.suggest_batch(width, height)
    return max(1, min(16, 500_000 // max(1, width * height)))
