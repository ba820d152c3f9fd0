"""Stage 1, the reader: the input's items (from vsr.media.decode.read_items) onto a bounded queue."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from vsr.media.frames import Passthrough, VideoItem
from vsr.pipeline.queue import END, StageQueue, Stopped


def read_stage(items: Iterable[VideoItem | Passthrough], out: StageQueue, stop: threading.Event) -> None:
    """Put every item on `out` in order, then END. Raises Stopped once `stop` is set, and whatever
    reading raises (InputError for an unreadable or wholly damaged file)."""
    for item in items:
        if stop.is_set():
            raise Stopped
        out.put(item)
    out.put(END)
