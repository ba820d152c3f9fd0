"""The CUDA engine: fp16 model, pinned host buffers in a ring of two, a copy and a compute stream.

`submit` only enqueues the work (host→device copy on the copy stream from pinned memory, the model
and the chroma on the compute stream, the device→host copy back on the copy stream), so the next
batch's copy and the CPU work around it overlap the current batch's compute. Events, never a
device-wide synchronise, order the streams, and the host waits once per batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from vsr.device import DTYPES, cudnn_settings
from vsr.resample.bicubic import upscale_bicubic_tensor
from vsr.engine.tiling import ChunkPlan, as_unsigned, forward_resilient, pad_batch, quantise


@dataclass
class _CudaBatch:
    count: int
    outputs: list[torch.Tensor]  # pinned host buffers, one per plane
    done: torch.cuda.Event


class CudaEngine:
    """The model on a CUDA device, with pinned host buffers in a ring of two and two streams.

    Chroma is upscaled (bicubic) and every plane quantised on the device too (`submit_frames`),
    so the host only copies 8/16-bit planes in and out.
    """

    device = "cuda"
    upscales_chroma = True

    def __init__(self, module: torch.nn.Module, scale: int, precision: str, max_value: int, device: torch.device) -> None:
        self.dtype = DTYPES[precision]
        # a copy: Module.to converts in place, and the module may be a caller's (a loaded SRModel used again on the CPU)
        self.module = copy.deepcopy(module).eval().to(device=device, dtype=self.dtype, memory_format=torch.channels_last)
        self.scale = scale
        self.precision = precision
        self.max_value = max_value
        self.torch_device = device
        self.copy_stream = torch.cuda.Stream(device)
        self.compute_stream = torch.cuda.Stream(device)
        self._host: dict[tuple[str, int, int, tuple[int, ...]], torch.Tensor] = {}
        """(direction, plane, slot, plane shape) → pinned buffer: the shape is in the key, so that the
        turned batches of --ensemble (width and height swapped) do not pin new memory each time."""
        self._slot = 0
        self.plan = ChunkPlan()
        self._largest_batch = 0
        torch.backends.cudnn.benchmark = True

    def _pinned(self, key: tuple[str, int, int], shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        key = (*key, tuple(shape[1:]))
        buffer = self._host.get(key)
        if buffer is None or buffer.dtype != dtype or buffer.shape[0] < shape[0]:
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
        with torch.cuda.stream(self.compute_stream), torch.inference_mode(), cudnn_settings(self.precision):
            x = device_in[0].unsqueeze(1).to(self.dtype).mul_(1.0 / self.max_value)
            self._largest_batch = max(self._largest_batch, count)
            x = pad_batch(x.contiguous(memory_format=torch.channels_last), self._largest_batch)
            y = forward_resilient(self.module, x, self.scale, self.plan)[:count]
            outputs = [quantise(y, self.max_value).squeeze(1)]
            outputs += [upscale_bicubic_tensor(chroma, self.scale, self.max_value) for chroma in device_in[1:]]
            computed = torch.cuda.Event()
            computed.record(self.compute_stream)
        self.copy_stream.wait_event(computed)
        host_out = []
        with torch.cuda.stream(self.copy_stream):
            for p, tensor in enumerate(outputs):
                tensor.record_stream(self.copy_stream)
                host_out.append(self._pinned(("out", p, slot), tuple(tensor.shape), tensor.dtype))
                host_out[-1].copy_(tensor, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.copy_stream)
        return _CudaBatch(count, host_out, done)

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
        planes = [as_unsigned(buffer.numpy()) for buffer in handle.outputs]
        return [[plane[i] for plane in planes] for i in range(handle.count)]
