"""The packet-reorder buffer (vsr.pipeline.reorder) both upscale stages use: each packet leaves
right after the frames that came before it, however late those frames are written. (The
multi-frame stage's order is checked in test_window.py.)"""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from vsr.engine.bicubic import BicubicEngine
from vsr.media.frames import Layout, Passthrough, VideoItem
from vsr.pipeline.queue import END, StageQueue
from vsr.pipeline.reorder import PacketReorder
from vsr.pipeline.upscale import UpscaleStats, upscale_frames


def packet(name: str) -> Passthrough:
    return Passthrough(1, packet=name)


def test_a_packet_with_no_frame_pending_passes_at_once():
    out: list = []
    reorder = PacketReorder(out.append)
    reorder.packet_arrived(packet("a"))
    assert [p.packet for p in out] == ["a"]
    assert len(reorder) == 0


def test_a_packet_waits_for_the_frames_before_it_and_not_for_those_after():
    out: list = []
    reorder = PacketReorder(out.append)
    reorder.frame_arrived()  # frame 0
    reorder.frame_arrived()  # frame 1
    reorder.packet_arrived(packet("after 1"))
    reorder.frame_arrived()  # frame 2
    reorder.packet_arrived(packet("after 2"))
    assert out == [] and len(reorder) == 2
    reorder.frame_written()  # frame 0
    assert out == []
    reorder.frame_written()  # frame 1
    assert [p.packet for p in out] == ["after 1"]
    reorder.frame_written()  # frame 2
    assert [p.packet for p in out] == ["after 1", "after 2"]
    assert len(reorder) == 0


def test_a_packet_behind_a_held_one_is_held_too_even_with_its_frames_written():
    """Packets never overtake each other: the second one has no frame pending of its own."""
    out: list = []
    reorder = PacketReorder(out.append)
    reorder.frame_arrived()
    reorder.packet_arrived(packet("a"))
    reorder.frame_written()
    reorder.frame_arrived()
    reorder.packet_arrived(packet("b"))
    assert [p.packet for p in out] == ["a"]
    reorder.frame_written()
    assert [p.packet for p in out] == ["a", "b"]


def test_finish_lets_out_what_is_still_held_in_order():
    out: list = []
    reorder = PacketReorder(out.append)
    reorder.frame_arrived()
    for name in "xyz":
        reorder.packet_arrived(packet(name))
    reorder.finish()
    assert [p.packet for p in out] == ["x", "y", "z"]
    assert len(reorder) == 0


def test_writing_more_frames_than_arrived_is_a_bug_that_raises():
    reorder = PacketReorder(lambda p: None)
    reorder.frame_arrived()
    reorder.frame_written()
    with pytest.raises(RuntimeError, match="2 frames written but only 1 arrived"):
        reorder.frame_written()


@pytest.mark.parametrize("seed", range(5))
def test_any_schedule_of_writes_gives_back_the_input_order(seed):
    """A random stream of frames and packets, frames written in random-sized bursts (as batches
    are): the output is exactly the input order."""
    rng = random.Random(seed)
    stream = [("frame", i) if rng.random() < 0.6 else ("packet", i) for i in range(200)]
    out: list = []
    reorder = PacketReorder(lambda p: out.append(("packet", p.packet)))
    waiting: list = []  # frames taken in, not yet written
    for kind, label in stream:
        if kind == "frame":
            reorder.frame_arrived()
            waiting.append(label)
        else:
            reorder.packet_arrived(packet(label))
        while waiting and rng.random() < 0.3:
            out.append(("frame", waiting.pop(0)))
            reorder.frame_written()
    for label in waiting:
        out.append(("frame", label))
        reorder.frame_written()
    reorder.finish()
    assert out == stream


def single_frame_stage(sequence: list, batch: int) -> list:
    """`sequence` (VideoItems and Passthroughs) through upscale_frames with the bicubic engine."""
    stop = threading.Event()
    source: StageQueue = StageQueue(len(sequence) + 1, stop)
    sink: StageQueue = StageQueue(2 * len(sequence) + 2, stop)
    for item in [*sequence, END]:
        source.put(item)
    upscale_frames(BicubicEngine(2), Layout("gray"), batch, lambda planes, item: item.index, source, sink, stop,
                   UpscaleStats())
    out = []
    while (got := sink.get()) is not END:
        out.append(got)
    return out


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_the_single_frame_stage_puts_each_packet_right_after_the_frames_before_it(batch):
    sequence: list = [Passthrough(1, packet="first")]
    for index in range(7):
        sequence.append(VideoItem(index, pts=index, duration=1, planes=[np.full((4, 6), index, np.uint8)]))
        if index % 2:
            sequence.append(Passthrough(1, packet=f"after {index}"))
    out = single_frame_stage(sequence, batch)
    expected = [item.index if isinstance(item, VideoItem) else item.packet for item in sequence]
    assert [item if isinstance(item, int) else item.packet for item in out] == expected


def test_a_long_stretch_of_packets_without_frames_is_not_held_whole(monkeypatch):
    """Audio after the video's end (or during a pause) was held behind the frames of an unfinished
    batch until the next frame or the end: 50 minutes of PCM took 923 MB."""
    import vsr.pipeline.upscale as upscale

    most: list[int] = []

    class Counting(PacketReorder):
        def packet_arrived(self, packet: Passthrough) -> None:
            super().packet_arrived(packet)
            most.append(len(self))

    monkeypatch.setattr(upscale, "PacketReorder", Counting)
    frames = [VideoItem(index, pts=index, duration=1, planes=[np.full((4, 6), index, np.uint8)]) for index in range(3)]
    tail = [Passthrough(1, packet=f"audio {n}") for n in range(5 * upscale.HELD_PACKETS)]
    out = single_frame_stage([*frames, *tail, VideoItem(3, pts=900, duration=1, planes=[np.zeros((4, 6), np.uint8)])], 16)
    assert max(most) <= upscale.HELD_PACKETS + 1
    assert [item if isinstance(item, int) else item.packet for item in out] == [0, 1, 2, *(p.packet for p in tail), 3]


def test_high_rate_audio_between_frames_leaves_the_batches_whole(monkeypatch):
    """The early run of a partial batch counted every packet held: TrueHD's 1200 packets a second
    behind two batches of 32 frames cut every batch to about 10 frames."""
    import vsr.pipeline.upscale as upscale

    sizes: list[int] = []
    real = upscale.submit_items

    def counting(engine, items):
        sizes.append(len(items))
        return real(engine, items)

    monkeypatch.setattr(upscale, "submit_items", counting)
    sequence: list = []
    for index in range(96):
        sequence.append(VideoItem(index, pts=index, duration=1, planes=[np.full((4, 6), index % 256, np.uint8)]))
        sequence += [Passthrough(1, packet=f"{index}.{n}") for n in range(50)]  # 50 a frame: 1200 a second at 24 fps
    single_frame_stage(sequence, 32)
    assert sizes == [32, 32, 32]
