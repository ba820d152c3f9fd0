"""Stage 1, the reader: the input's items (vsr.media.decode.read_items) onto a bounded queue."""

from __future__ import annotations

import threading
from pathlib import Path

from vsr.errors import InputError
from vsr.media import decode
from vsr.media.decode import DecodeStats, FrameFilter
from vsr.media.frames import Layout
from vsr.pipeline.queue import END, StageQueue, Stopped


def read_stage(
    path: Path,
    layout: Layout,
    out: StageQueue,
    stop: threading.Event,
    passthrough_streams: list[int],
    stats: DecodeStats,
    frame_duration: int,
    max_frames: int | None = None,
    *,
    frame_filter: FrameFilter | None = None,
    start_pts: int | None = None,
    end_pts: int | None = None,
) -> None:
    """Put every VideoItem and Passthrough of `path` on `out` in file order, then END.

    The parameters are `read_items`'s. Raises Stopped once `stop` is set, and whatever reading
    raises (InputError for an unreadable file); InputError too when a whole file gives no frame
    at all (every packet damaged), rather than an empty output.
    """
    # looked up through the module, so that a test can wrap read_items to watch the frames go by
    items = decode.read_items(
        path, layout, passthrough_streams, stats, frame_duration, max_frames,
        frame_filter=frame_filter, start_pts=start_pts, end_pts=end_pts,
    )
    for item in items:
        if stop.is_set():
            raise Stopped
        out.put(item)
    if stats.frames == 0 and start_pts is None and end_pts is None and max_frames != 0:
        raise InputError(f"no video frame of {path} could be decoded (the file is damaged)")
    out.put(END)
