"""Stage 2: frames in batches through the engine; chroma by bicubic; encoder-ready frames out.

Luma goes through the network, chroma is upscaled with bicubic (on the GPU by the CUDA engine,
with OpenCV otherwise), and both are written straight
into the planes of the output frame (no RGB round trip). When the encoder's chroma subsampling
needs even dimensions and scale x size is odd, the last column/row is repeated and the frame is
one pixel larger; the caller says so once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from vsr.engine import LumaEngine
from vsr.resample.bicubic import upscale_bicubic
from vsr.media.frames import Layout, VideoItem
from vsr.pipeline.queue import END, StageQueue, Stopped
from vsr.pipeline.reorder import PacketReorder

FrameFactory = Callable[[list[np.ndarray], VideoItem], Any]
"""Builds the encoder's frame from upscaled planes (the encode module's `frame_from_planes`)."""


HELD_PACKETS = 512
"""Packets of other streams arriving with no frame between them before the frames still pending
are run as they are (a partial batch): a long stretch of audio without frames (the video paused
or ended before the audio) would otherwise be held whole, its memory growing with its length.
Counted since the last frame, not in all: high-rate audio (TrueHD, 1200 packets/s) held behind two
full batches would cut every batch short."""


@dataclass
class UpscaleStats:
    frames: int = 0
    batches: int = 0


def fit_plane(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """Crop, or extend by repeating the last column/row, to exactly (height, width)."""
    h, w = plane.shape
    if (h, w) == (height, width):
        return plane
    plane = plane[:height, :width]
    pad_rows, pad_cols = height - plane.shape[0], width - plane.shape[1]
    if pad_rows or pad_cols:
        plane = cv2.copyMakeBorder(plane, 0, pad_rows, 0, pad_cols, cv2.BORDER_REPLICATE)
    return plane


def fit_planes(planes: list[np.ndarray], layout: Layout) -> list[np.ndarray]:
    """Upscaled [luma, *chroma] at the encoder's size (one pixel more where it needs even sizes)."""
    width, height = layout.even_size(planes[0].shape[1], planes[0].shape[0])
    return [fit_plane(plane, *size) for plane, size in zip(planes, layout.plane_sizes(width, height))]


def upscale_planes(luma_out: np.ndarray, chroma: list[np.ndarray], scale: int, layout: Layout) -> list[np.ndarray]:
    """The output planes of one frame at the encoder's size: the upscaled luma and bicubic chroma."""
    return fit_planes([luma_out, *(upscale_bicubic(plane, scale, layout.max_value) for plane in chroma)], layout)


def submit_items(engine: LumaEngine, items: list[VideoItem]) -> Any:
    """Start a batch: the luma planes, and the chroma too where the engine upscales it (CUDA)."""
    if engine.upscales_chroma:
        return engine.submit_frames([item.planes for item in items])  # type: ignore[attr-defined]
    return engine.submit([item.planes[0] for item in items])


def collect_planes(engine: LumaEngine, handle: Any, items: list[VideoItem], layout: Layout) -> list[list[np.ndarray]]:
    """The encoder-ready planes of each frame of a batch started by `submit_items`."""
    if engine.upscales_chroma:
        return [fit_planes(planes, layout) for planes in engine.collect_frames(handle)]  # type: ignore[attr-defined]
    return [upscale_planes(luma, item.planes[1:], engine.scale, layout) for item, luma in zip(items, engine.collect(handle))]


def upscale_frames(
    engine: LumaEngine,
    layout: Layout,
    batch_size: int,
    make_frame: FrameFactory,
    source: StageQueue,
    sink: StageQueue,
    stop: threading.Event,
    stats: UpscaleStats,
) -> None:
    """Take VideoItems from `source` in batches, put encoder frames (and passthrough packets, in order) on `sink`."""
    batch: list[VideoItem] = []
    reorder = PacketReorder(sink.put)
    in_flight: tuple[Any, list[VideoItem]] | None = None

    def finish(flight: tuple[Any, list[VideoItem]]) -> None:
        handle, items = flight
        for item, planes in zip(items, collect_planes(engine, handle, items, layout)):
            sink.put(make_frame(planes, item))
            item.keepalive = item.planes = None
            stats.frames += 1
            reorder.frame_written()

    def launch() -> None:
        nonlocal batch, in_flight
        if stop.is_set():
            raise Stopped
        handle = submit_items(engine, batch)
        stats.batches += 1
        if in_flight is not None:
            finish(in_flight)
        in_flight, batch = (handle, batch), []

    since_frame = 0  # packets since the last frame: a few in playback, thousands in a pause or a tail
    for item in source.until_end():
        if isinstance(item, VideoItem):
            since_frame = 0
            reorder.frame_arrived()
            batch.append(item)
            if len(batch) >= batch_size:
                launch()
        else:
            reorder.packet_arrived(item)
            since_frame += 1
            if since_frame > HELD_PACKETS and len(reorder):  # audio without frames (a pause, a tail): the frames go now
                if batch:
                    launch()
                if in_flight is not None:
                    finish(in_flight)
                    in_flight = None
    if batch:
        launch()
    if in_flight is not None:
        finish(in_flight)
    reorder.finish()
    sink.put(END)
