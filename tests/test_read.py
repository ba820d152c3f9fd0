"""vsr.pipeline.read: the reader stage puts vsr.media.decode's items on its queue, then END."""

from __future__ import annotations

import threading

import pytest

from vsr.media.decode import DecodeStats, read_items
from vsr.media.frames import Layout, Passthrough, VideoItem
from vsr.pipeline.queue import END, StageQueue, Stopped
from vsr.pipeline.read import read_stage

YUV420 = Layout("yuv420p")


def drain(queue: StageQueue) -> list:
    items = []
    while not items or items[-1] is not END:
        items.append(queue.get())
    return items


def describe(item) -> tuple:
    if isinstance(item, VideoItem):
        return ("video", item.index, item.pts)
    if isinstance(item, Passthrough):
        return ("packet", item.stream_index, item.packet.pts)
    return ("end",)


def test_the_stage_queues_every_item_in_file_order_then_end(make_clip):
    source = make_clip("in.mkv", frames=8, audio=("opus",))
    queue = StageQueue(1000, threading.Event())
    stats = DecodeStats()
    read_stage(read_items(source, YUV420, [1], stats, 40), queue, threading.Event())
    expected = [describe(i) for i in read_items(source, YUV420, [1], DecodeStats(), 40)] + [("end",)]
    assert [describe(i) for i in drain(queue)] == expected
    assert stats.frames == 8


def test_the_stage_passes_max_frames_and_the_range_on(make_clip):
    source = make_clip("in.mkv", frames=20, codec="libx264", options={"g": "5"})
    pts = [i.pts for i in read_items(source, YUV420, [], DecodeStats(), 40)]
    queue = StageQueue(1000, threading.Event())
    read_stage(read_items(source, YUV420, [], DecodeStats(), 40, 3, start_pts=pts[6], end_pts=pts[15]), queue, threading.Event())
    assert [describe(i) for i in drain(queue)] == [("video", 0, pts[6]), ("video", 1, pts[7]), ("video", 2, pts[8]), ("end",)]


def test_a_set_stop_event_ends_the_stage_with_stopped(make_clip):
    source = make_clip("in.mkv", frames=8)
    stop = threading.Event()
    stop.set()
    queue = StageQueue(1000, stop)
    with pytest.raises(Stopped):
        read_stage(read_items(source, YUV420, [], DecodeStats(), 40), queue, stop)
    assert queue.qsize() == 0
