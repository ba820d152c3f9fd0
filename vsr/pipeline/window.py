"""Stage 2 in multi-frame mode: sliding temporal windows over the frame queue.

The same contract as `upscale.upscale_frames`: VideoItems (and passthrough packets) come in from
the decoder's queue in order; encoder frames and the packets come out in the same order, one
output frame per input frame. Frame t is upscaled once t+k has arrived (or the video or its shot
has ended): the single-frame engine gives its first estimate, and `vsr.misr.MultiFrameSR` aligns
the window t−k…t+k to it and fuses them; with a multi-frame model (`LearnedFusion`), the network
turns the aligned window into the HR frame instead. Only the frames that a future window still
needs are held, so memory is bounded by the window and the batch, never by the video.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from vsr.misr import Diagnostics, MultiFrameSR
from vsr.engine.fusion import LearnedFusion
from vsr.engine import LumaEngine
from vsr.media.frames import Layout, VideoItem
from vsr.pipeline.queue import END, StageQueue, Stopped
from vsr.pipeline.reorder import PacketReorder
from vsr.pipeline.upscale import FrameFactory, UpscaleStats, upscale_planes

log = logging.getLogger(__name__)

DEBUG_FRAMES = 3
"""Frames whose alignment confidence maps are written to --debug-dir (the first ones and each cut's)."""
FUSION_PIXELS = 16_000_000
"""HR pixels × window entries fused in one call (bounds the fusion's memory, about 1 GB at this size)."""


@dataclass
class WindowStats(UpscaleStats):
    cuts: list[int] = field(default_factory=list)
    debug_files: list[Path] = field(default_factory=list)


def fusion_chunk(width: int, height: int, scale: int, frames: int) -> int:
    """References fused together: as many as fit in FUSION_PIXELS, at least one."""
    return max(1, FUSION_PIXELS // max(1, width * height * scale * scale * frames))


def upscale_windows(
    engine: LumaEngine | LearnedFusion,
    fuser: MultiFrameSR,
    layout: Layout,
    batch_size: int,
    make_frame: FrameFactory,
    source: StageQueue,
    sink: StageQueue,
    stop: threading.Event,
    stats: WindowStats,
    debug_dir: Path | None = None,
    *,
    written: Callable[[int], bool] | None = None,
) -> None:
    """Take VideoItems from `source`, put encoder frames and passthrough packets, in order, on `sink`.
    `written(pts)`: whether a frame is to be written; the others (a segment's context) are only
    the neighbours of those in the windows (None: every frame is written)."""
    pending: deque[VideoItem] = deque()  # pushed to the fuser, not yet emitted
    reorder = PacketReorder(sink.put)
    debug_left = DEBUG_FRAMES if debug_dir is not None else 0
    learned = isinstance(engine, LearnedFusion)

    def run(items: list[VideoItem]) -> None:
        nonlocal debug_left
        if stop.is_set():
            raise Stopped
        inits = None if learned else engine.collect(engine.submit([item.planes[0] for item in items]))
        stats.batches += 1
        height, width = items[0].planes[0].shape
        chunk = fusion_chunk(width, height, engine.scale, fuser.settings.frames)
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            indices = [item.index for item in part]
            diagnostics: list[Diagnostics] | None = [] if debug_left > 0 else None
            if learned:
                hr = engine.fuse(fuser, indices)
                if diagnostics is not None:
                    diagnostics.extend(fuser.diagnostics(indices))
            else:
                hr = fuser.fuse(indices, inits[start : start + chunk], diagnostics=diagnostics)
            lumas = _quantise(hr, layout)
            if diagnostics:
                for diag in diagnostics[:debug_left]:
                    stats.debug_files.append(_write_confidence(debug_dir, diag))
                debug_left -= min(debug_left, len(diagnostics))
            for item, luma_out in zip(part, lumas):
                if stop.is_set():
                    raise Stopped
                planes = upscale_planes(luma_out, item.planes[1:], engine.scale, layout)
                sink.put(make_frame(planes, item))
                item.keepalive = item.planes = None
                stats.frames += 1
                reorder.frame_written()
        fuser.release(pending[0].index if pending else fuser.count)

    def drain(final: bool) -> None:
        while pending and (final or len(pending) >= batch_size):
            ready = list(itertools.takewhile(lambda it: fuser.ready(it.index), itertools.islice(pending, batch_size)))
            if not ready or (not final and len(ready) < batch_size):
                return
            for _ in ready:
                pending.popleft()
            run(ready)

    for item in source.until_end():
        if isinstance(item, VideoItem):
            if item.index != fuser.count:
                raise RuntimeError(f"frames out of order: got {item.index}, expected {fuser.count}")
            fuser.push(item.planes[0])
            if written is not None and not written(item.pts):  # a segment's context: fused as a neighbour only
                continue
            reorder.frame_arrived()
            pending.append(item)
            drain(final=False)
        else:
            reorder.packet_arrived(item)
    fuser.finish()
    drain(final=True)
    assert not pending, "every frame is ready after finish"
    reorder.finish()
    stats.cuts = list(fuser.cuts)
    sink.put(END)


def _quantise(hr: torch.Tensor, layout: Layout) -> list[np.ndarray]:
    """(N, 1, sH, sW) float in 0..max_value → N planes of the layout's dtype, rounded and clamped."""
    out = hr[:, 0].round().clamp_(0, layout.max_value).cpu().numpy()
    return list(out.astype(layout.dtype))


def _write_confidence(folder: Path, diag: Diagnostics) -> Path:
    """A PNG of one frame's alignment confidence maps, side by side in window order (white = trusted)."""
    folder.mkdir(parents=True, exist_ok=True)
    maps = np.clip(np.rint(diag.confidence * 255), 0, 255).astype(np.uint8)
    gap = np.full((maps.shape[1], 2), 128, np.uint8)
    tiles: list[np.ndarray] = []
    for plane in maps:
        tiles += [plane, gap]
    path = folder / f"confidence_{diag.index:06d}.png"
    if not cv2.imwrite(str(path), np.concatenate(tiles[:-1], axis=1)):
        raise OSError(f"cannot write {path}")
    (folder / f"confidence_{diag.index:06d}.txt").write_text(
        f"frame {diag.index}\nwindow (reference first; repeats have zero weight): {diag.window}\n"
        f"mean confidence per entry: {[round(float(c.mean()), 3) for c in diag.confidence]}\n"
        f"scene cut before: {diag.cut_before}, after: {diag.cut_after}\n",
        encoding="utf-8",
    )
    return path
