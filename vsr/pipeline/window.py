"""Stage 2 in multi-frame mode: sliding temporal windows over the frame queue.

The same contract as `upscale.upscale_frames`: VideoItems (and passthrough packets) come in from
the decoder's queue in order; encoder frames and the packets come out in the same order, one
output frame per input frame. Frame t is upscaled once t+k has arrived (or the video or its shot
has ended): the single-frame engine gives its first estimate, and `vsr.misr.MultiFrameSR` aligns
the window t−k…t+k to it and fuses them; with a multi-frame model (`LearnedFusion`), the network
turns the aligned window into the HR frame instead (`vsr.engine.windows.WindowFusion`; this stage
adds the frames' chroma, the passthrough packets and a segment's context frames around it). Only
the frames that a future window still needs are held, so memory is bounded by the window and the
batch, never by the video.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vsr.engine import LumaEngine
from vsr.engine.fusion import LearnedFusion
from vsr.engine.windows import WindowFusion
from vsr.misr import Diagnostics, MultiFrameSR
from vsr.media.frames import Layout, VideoItem
from vsr.pipeline.queue import END, StageQueue, Stopped
from vsr.pipeline.reorder import PacketReorder
from vsr.pipeline.upscale import FrameFactory, UpscaleStats, upscale_planes

log = logging.getLogger(__name__)

DEBUG_FRAMES = 3
"""Frames whose alignment confidence maps are written to --debug-dir (the first ones fused)."""


@dataclass
class WindowStats(UpscaleStats):
    cuts: list[int] = field(default_factory=list)
    debug_files: list[Path] = field(default_factory=list)


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
    pending: deque[VideoItem] = deque()  # to be written, not yet fused
    reorder = PacketReorder(sink.put)
    windows = WindowFusion(fuser, engine, batch_size=batch_size, diagnose=DEBUG_FRAMES if debug_dir is not None else 0)

    def write(lumas: list[np.ndarray]) -> None:
        for luma_out in lumas:
            if stop.is_set():
                raise Stopped
            item = pending.popleft()
            planes = upscale_planes(luma_out, item.planes[1:], engine.scale, layout)
            sink.put(make_frame(planes, item))
            item.keepalive = item.planes = None
            stats.frames += 1
            reorder.frame_written()
        for diag in windows.diagnostics[len(stats.debug_files):]:
            assert debug_dir is not None
            stats.debug_files.append(_write_confidence(debug_dir, diag))

    for item in source.until_end():
        if isinstance(item, VideoItem):
            if item.index != fuser.count:
                raise RuntimeError(f"frames out of order: got {item.index}, expected {fuser.count}")
            if stop.is_set():
                raise Stopped
            emit = written is None or written(item.pts)  # else a segment's context: fused as a neighbour only
            if emit:
                reorder.frame_arrived()
                pending.append(item)
            write(windows.push(item.planes[0], emit=emit))
        else:
            reorder.packet_arrived(item)
    write(windows.finish())
    assert not pending, "every frame is fused after finish"
    reorder.finish()
    stats.batches = windows.batches
    stats.cuts = list(fuser.cuts)
    sink.put(END)


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
