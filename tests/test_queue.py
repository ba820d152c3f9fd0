"""Bounded hand-off between stages (StageQueue), and bounded memory of the whole pipeline.

Memory is checked by counting, not by measuring RSS: the number of frames decoded but not yet
written can never exceed what the two bounded queues and the upscale stage's two batches hold.
"""

from __future__ import annotations

import threading
import time

import pytest

import vsr
from vsr.media import decode, mux
from vsr.media.frames import VideoItem
from vsr.pipeline.queue import END, POLL_SECONDS, StageQueue, Stopped
from videoclips import read_index, read_video

BLOCKED_SECONDS = 0.3
"""How long a call must stay blocked to count as blocked (several poll slices)."""


def start(fn, *args):
    """Run fn(*args) in a thread; the returned dict gets 'value' or 'error' when it ends."""
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def test_items_come_out_in_order_and_end_passes_through():
    q = StageQueue(3, threading.Event())
    for item in (1, 2, END):
        q.put(item)
    assert q.qsize() == 3
    assert [q.get(), q.get(), q.get()] == [1, 2, END]


def test_until_end_gives_the_items_before_the_end_marker_and_takes_it():
    q = StageQueue(8, threading.Event())
    for item in (1, 2, END, 3):
        q.put(item)
    assert list(q.until_end()) == [1, 2]
    assert q.get() == 3


@pytest.mark.parametrize("size", [0, -1])
def test_a_queue_must_hold_at_least_one_item(size):
    with pytest.raises(ValueError, match="queue size"):
        StageQueue(size, threading.Event())


def test_put_blocks_while_the_queue_is_full_and_resumes_when_an_item_is_taken():
    q = StageQueue(2, threading.Event())
    q.put("a")
    q.put("b")
    thread, outcome = start(q.put, "c")
    thread.join(BLOCKED_SECONDS)
    assert thread.is_alive(), "put on a full queue returned"
    assert q.qsize() == 2
    assert q.get() == "a"
    thread.join(2)
    assert not thread.is_alive() and "error" not in outcome
    assert [q.get(), q.get()] == ["b", "c"]


def test_a_blocked_put_raises_stopped_soon_after_the_stop_event_is_set():
    stop = threading.Event()
    q = StageQueue(1, stop)
    q.put("a")
    thread, outcome = start(q.put, "b")
    thread.join(BLOCKED_SECONDS)
    assert thread.is_alive()
    stop.set()
    thread.join(10 * POLL_SECONDS + 0.5)
    assert not thread.is_alive(), "put did not notice the stop event"
    assert isinstance(outcome.get("error"), Stopped)


def test_a_blocked_get_raises_stopped_soon_after_the_stop_event_is_set():
    stop = threading.Event()
    q = StageQueue(1, stop)
    thread, outcome = start(q.get)
    thread.join(BLOCKED_SECONDS)
    assert thread.is_alive(), "get on an empty queue returned"
    stop.set()
    thread.join(10 * POLL_SECONDS + 0.5)
    assert not thread.is_alive(), "get did not notice the stop event"
    assert isinstance(outcome.get("error"), Stopped)


def test_a_stopped_queue_refuses_put_and_get_at_once_even_with_room_and_items():
    stop = threading.Event()
    q = StageQueue(4, stop)
    q.put("a")
    stop.set()
    started = time.monotonic()
    with pytest.raises(Stopped):
        q.put("b")
    with pytest.raises(Stopped):
        q.get()
    assert time.monotonic() - started < POLL_SECONDS


def test_qsize_never_exceeds_maxsize_with_concurrent_producers():
    stop = threading.Event()
    q = StageQueue(3, stop)
    seen = []
    producers = [start(lambda k=k: [q.put((k, i)) for i in range(50)])[0] for k in range(3)]
    taken = []
    while len(taken) < 150:
        seen.append(q.qsize())
        taken.append(q.get())
    for thread in producers:
        thread.join(2)
    assert max(seen) <= 3
    for k in range(3):  # each producer's items in its own order
        assert [i for kk, i in taken if kk == k] == list(range(50))


def frames_in_flight(monkeypatch) -> list[int]:
    """Patches the reader and the muxer; the list returned gets, at each decoded frame, how many
    frames have been decoded and not yet written."""
    decoded, written, lead = [0], [0], []
    original_read, original_write = decode.read_items, mux.Muxer.write_frame

    def read_items(*args, **kwargs):
        for item in original_read(*args, **kwargs):
            if isinstance(item, VideoItem):
                decoded[0] += 1
                lead.append(decoded[0] - written[0])
            yield item

    def write_frame(self, frame):
        original_write(self, frame)
        written[0] += 1

    monkeypatch.setattr(decode, "read_items", read_items)
    monkeypatch.setattr(mux.Muxer, "write_frame", write_frame)
    return lead


@pytest.mark.parametrize("queue_size,batch_size", [(2, 1), (1, 3)])
def test_the_pipeline_holds_a_bounded_number_of_frames(make_clip, monkeypatch, queue_size, batch_size):
    """200 frames through queues of `queue_size`: the decoder is never more than the queues and
    the upscale stage's two batches (one being filled or launched, one in flight) ahead of the writer."""
    frames = 200
    source = make_clip("long.mkv", width=48, height=32, frames=frames, codec="ffv1")
    lead, queued = frames_in_flight(monkeypatch), []
    original_put = StageQueue.put

    def put(self, item):
        original_put(self, item)
        queued.append((self.maxsize, self.qsize()))

    monkeypatch.setattr(StageQueue, "put", put)

    result = vsr.upscale_video(
        source, scale=2, model="bicubic", preset="ultrafast", queue_size=queue_size, batch_size=batch_size
    )
    assert result.frames == frames
    assert all(size <= maxsize == queue_size for maxsize, size in queued)
    # the frame in the decoder's hand + queue + two batches + queue + the frame in the writer's hand
    bound = 1 + queue_size + 2 * batch_size + queue_size + 1
    assert max(lead) <= bound, f"{max(lead)} frames in flight, more than the {bound} the queues allow"
    after = read_video(result.output)
    assert [read_index(y, 48, 32) for y in after.lumas] == list(range(frames))
