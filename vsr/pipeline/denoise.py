"""The temporal denoising stage (`--denoise temporal`): between the reader and the upscaler.

Frames and passthrough packets come in from the reader's queue and go out in the same order, each
frame's planes replaced by their denoised copies (`vsr.misr.denoise.TemporalDenoiser`). Frame t
goes out once t + radius has arrived (or its shot or the video has ended). The original planes of
the frames a later window still needs are kept; nothing else is, so memory is bounded by the window.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vsr.media.frames import Passthrough, VideoItem
from vsr.misr.denoise import TemporalDenoiser
from vsr.pipeline.queue import END, StageQueue, Stopped


@dataclass
class DenoiseStats:
    """Frames put on, and the noise levels measured (8-bit levels; their count, sum and range, and
    how many frames were left as they were, measured under the denoiser's `skip_below`)."""

    frames: int = 0
    measured: int = 0
    left: int = 0
    sigma_sum: float = 0.0
    sigma_min: float = math.inf
    sigma_max: float = 0.0

    def add(self, sigma: float, left: bool) -> None:
        self.measured += 1
        self.left += left
        self.sigma_sum += sigma
        self.sigma_min, self.sigma_max = min(self.sigma_min, sigma), max(self.sigma_max, sigma)

    def describe(self) -> str:
        """One line for the log: the frames and the noise levels measured on them."""
        if not self.measured:
            return "temporal denoising: no frames"
        return (f"temporal denoising: {self.frames} frames, noise σ {self.sigma_sum / self.measured:.1f} levels "
                f"(mean; {self.sigma_min:.1f} to {self.sigma_max:.1f}), {self.left} left as they were (too little noise)")


def denoise_frames(
    denoiser: TemporalDenoiser,
    source: StageQueue,
    sink: StageQueue,
    stop: threading.Event,
    stats: DenoiseStats,
    *,
    written: Callable[[int], bool] | None = None,
    pass_context: bool = True,
) -> None:
    """Take frames and packets from `source` and put them, the frames denoised, on `sink` in order.

    written(pts): whether a frame is in the job's scope (None: all are); the others (a segment's
    context) are the neighbours of those in scope and go on only with `pass_context` (the
    multi-frame stage wants them), after being denoised like the rest.
    """
    held: deque[VideoItem | Passthrough] = deque()  # in arrival order, not yet put on
    originals: dict[int, list[np.ndarray]] = {}  # index → the planes as decoded

    def put_ready() -> None:
        while held:
            head = held[0]
            if isinstance(head, VideoItem):
                if not denoiser.ready(head.index):
                    return
                if stop.is_set():
                    raise Stopped
                planes, sigma = denoiser.denoise(head.index, {i: originals[i] for i in denoiser.window(head.index)})
                stats.add(sigma, left=sigma < denoiser.settings.skip_below)
                denoiser.release(head.index + 1)
                for index in [i for i in originals if i < head.index + 1 - denoiser.settings.radius]:
                    del originals[index]
                held.popleft()
                if written is not None and not written(head.pts) and not pass_context:
                    continue
                head.planes, head.keepalive = planes, None
                stats.frames += 1
                sink.put(head)
            else:
                sink.put(held.popleft())

    for item in source.until_end():
        if isinstance(item, VideoItem):
            if item.index != denoiser.count:
                raise RuntimeError(f"frames out of order: got {item.index}, expected {denoiser.count}")
            originals[item.index] = [np.array(plane) for plane in item.planes]  # a copy: the decoder's buffers go
            denoiser.push(item.planes[0])
        held.append(item)
        put_ready()
    denoiser.finish()
    put_ready()
    assert not held, "every frame is ready after finish"
    sink.put(END)
