"""Stage 3: frames in batches through the engine; chroma by bicubic; encoder-ready frames out.

Luma goes through the network, chroma is upscaled with bicubic, and both are written straight
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

from vsr.pipeline.engine import LumaEngine, upscale_bicubic
from vsr.pipeline.frames import Layout, Passthrough, VideoItem
from vsr.pipeline.queue import END, StageQueue, Stopped

FrameFactory = Callable[[list[np.ndarray], VideoItem], Any]
"""Builds the encoder's frame from upscaled planes (the encode module's `frame_from_planes`)."""


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


def upscale_planes(luma_out: np.ndarray, chroma: list[np.ndarray], scale: int, layout: Layout) -> list[np.ndarray]:
    """The output planes of one frame at the encoder's size: the upscaled luma and bicubic chroma."""
    width, height = layout.even_size(luma_out.shape[1], luma_out.shape[0])
    sizes = layout.plane_sizes(width, height)
    planes = [fit_plane(luma_out, *sizes[0])]
    for plane, size in zip(chroma, sizes[1:]):
        planes.append(fit_plane(upscale_bicubic(plane, scale), *size))
    return planes


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
    held: list[Passthrough] = []
    in_flight: tuple[Any, list[VideoItem], list[Passthrough]] | None = None

    def finish(flight: tuple[Any, list[VideoItem], list[Passthrough]]) -> None:
        handle, items, packets = flight
        for item, luma_out in zip(items, engine.collect(handle)):
            planes = upscale_planes(luma_out, item.planes[1:], engine.scale, layout)
            sink.put(make_frame(planes, item))
            item.keepalive = item.planes = None
            stats.frames += 1
        for packet in packets:
            sink.put(packet)

    def launch() -> None:
        nonlocal batch, held, in_flight
        if stop.is_set():
            raise Stopped
        handle = engine.submit([item.planes[0] for item in batch])
        stats.batches += 1
        if in_flight is not None:
            finish(in_flight)
        in_flight, batch, held = (handle, batch, held), [], []

    while True:
        item = source.get()
        if item is END:
            break
        if isinstance(item, VideoItem):
            batch.append(item)
            if len(batch) >= batch_size:
                launch()
        elif batch or in_flight is not None:
            held.append(item)
        else:
            sink.put(item)
    if batch:
        launch()
    if in_flight is not None:
        finish(in_flight)
    for packet in held:
        sink.put(packet)
    sink.put(END)
