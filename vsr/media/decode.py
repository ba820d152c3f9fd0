"""Stage 1: demux and decode. Video frames become `VideoItem`s, other packets pass through in order.

Damaged input policy: a packet that fails to decode is skipped with a warning, and a frame whose
timestamp does not advance is dropped with a warning. A decoder may also drop a damaged frame
without an error (H.264 does): a video packet whose timestamp never comes out as a frame is
counted as lost and reported at the end. Every frame that does come out keeps its original
timestamp, so later frames and the audio stay in sync; a skipped or lost frame shows as the
previous frame held a little longer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vsr.media.frames import Layout, Passthrough, VideoItem, plane_rows
from vsr.media.probe import open_input
from vsr.pipeline.queue import END, StageQueue, Stopped

log = logging.getLogger(__name__)


@dataclass
class DecodeStats:
    frames: int = 0
    skipped_packets: int = 0
    dropped_frames: int = 0
    lost_frames: int = 0
    """Video packets whose frame never came out of the decoder, though it raised no error."""


def plane_arrays(frame: av.VideoFrame, layout: Layout) -> list[np.ndarray]:
    """Views of a frame's planes as 2-D arrays without the line padding (no copy)."""
    sizes = layout.plane_sizes(frame.width, frame.height)
    return [plane_rows(plane, layout.dtype)[:height, :width] for plane, (width, height) in zip(frame.planes, sizes)]


def read_items(
    path: Path,
    layout: Layout,
    passthrough_streams: list[int],
    stats: DecodeStats,
    frame_duration: int,
    max_frames: int | None = None,
) -> Iterator[VideoItem | Passthrough]:
    """Demux `path`: decoded frames as VideoItems and the listed streams' packets as Passthrough, in file order.

    With `max_frames`, reading stops after that many frames (and so do the other streams).
    """
    with open_input(path) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        streams = [video] + [container.streams[i] for i in passthrough_streams]
        last_pts: int | None = None
        awaited: set[int] = set()  # timestamps of video packets whose frame has not come out yet
        for packet in container.demux(streams):
            if packet.stream.index != video.index:
                if packet.size:
                    yield Passthrough(packet.stream.index, packet)
                continue
            if packet.size and packet.pts is not None:
                awaited.add(packet.pts)
            for frame in _decode_packet(packet, stats):
                awaited.discard(frame.pts)
                pts = _frame_pts(frame, last_pts, frame_duration)
                if last_pts is not None and pts <= last_pts:
                    stats.dropped_frames += 1
                    log.warning("dropped a frame whose timestamp %s does not advance (previous %s)", pts, last_pts)
                    continue
                if not layout.same_planes(frame.format.name):
                    frame = frame.reformat(format=layout.pix_fmt)
                duration = frame.duration or frame_duration
                yield VideoItem(stats.frames, pts, duration, plane_arrays(frame, layout), keepalive=frame)
                stats.frames += 1
                last_pts = pts
                if max_frames is not None and stats.frames >= max_frames:
                    return
        # a packet that raised loses its frame too, but not always its own timestamp (frame threading)
        stats.lost_frames = max(0, len(awaited) - stats.skipped_packets)
        if stats.lost_frames:
            log.warning(
                "the decoder dropped %d damaged frame(s) without an error (missing pts: %s)",
                stats.lost_frames, ", ".join(map(str, sorted(awaited)[:10])),
            )


def decode_frames(
    path: Path,
    layout: Layout,
    out: StageQueue,
    stop: threading.Event,
    passthrough_streams: list[int],
    stats: DecodeStats,
    frame_duration: int,
    max_frames: int | None = None,
) -> None:
    """The reader stage: `read_items` onto the bounded queue `out`, then END."""
    for item in read_items(path, layout, passthrough_streams, stats, frame_duration, max_frames):
        if stop.is_set():
            raise Stopped
        out.put(item)
    out.put(END)


def _decode_packet(packet: av.Packet, stats: DecodeStats) -> list[av.VideoFrame]:
    try:
        return packet.decode()
    except (av.FFmpegError, ValueError) as exc:
        stats.skipped_packets += 1
        log.warning("skipped a damaged video packet at pts %s (%s)", packet.pts, exc)
        return []


def _frame_pts(frame: av.VideoFrame, last_pts: int | None, frame_duration: int) -> int:
    if frame.pts is not None:
        return frame.pts
    return 0 if last_pts is None else last_pts + frame_duration
