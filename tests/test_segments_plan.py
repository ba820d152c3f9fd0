"""vsr.segments.plan: segments cut at keyframes, from the packet index alone."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vsr.errors import ConfigError, InputError
from vsr.media.decode import DecodeStats, read_items
from vsr.media.frames import Layout, VideoItem
from vsr.media.index import PacketIndex, read_packet_index
from vsr.segments.plan import Segment, plan_segments


def index(pts: list[int], keyframes: list[int], time_base: Fraction = Fraction(1, 25)) -> PacketIndex:
    return PacketIndex(tuple(sorted(pts)), tuple(sorted(keyframes)), time_base)


def test_cuts_fall_on_the_first_keyframe_at_least_a_segment_after_the_last_cut():
    plan = plan_segments(index(list(range(100)), list(range(0, 100, 10))), segment_seconds=1.0)  # 25 frames
    assert plan == [Segment(0, 0, 30, 30), Segment(1, 30, 60, 30), Segment(2, 60, 90, 30), Segment(3, 90, None, 10)]


def test_variable_frame_rate_is_planned_by_time_not_by_frame_count():
    # 10 frames per second of the time base early on, then a burst: cuts follow the clock
    pts = [0, 1, 2, 10, 11, 30, 31, 32, 33, 34]
    plan = plan_segments(index(pts, [0, 10, 30], Fraction(1, 10)), segment_seconds=1.0)
    assert [(s.start_pts, s.end_pts, s.frames) for s in plan] == [(0, 10, 3), (10, 30, 2), (30, None, 5)]


def test_a_single_gop_is_one_segment_and_an_open_gop_start_joins_the_first():
    assert plan_segments(index(list(range(50)), [0]), 0.5) == [Segment(0, 0, None, 50)]
    plan = plan_segments(index([-2, -1, *range(40)], [0, 20]), 0.5)
    assert [(s.start_pts, s.end_pts, s.frames) for s in plan] == [(-2, 20, 22), (20, None, 20)]


def test_every_frame_is_in_exactly_one_segment():
    pts = sorted({(i * 7919) % 997 for i in range(300)})
    plan = plan_segments(index(pts, pts[::13]), segment_seconds=0.9)
    assert sum(s.frames for s in plan) == len(pts)
    assert all(a.end_pts == b.start_pts for a, b in zip(plan, plan[1:])) and plan[-1].end_pts is None


def test_bad_plans_are_refused():
    for seconds in (0, float("inf"), float("nan")):  # was a raw ValueError, OverflowError
        with pytest.raises(ConfigError, match="the segment length must be a positive number of seconds"):
            plan_segments(index([0, 1], [0]), seconds)
    with pytest.raises(InputError, match="no frame"):
        plan_segments(index([], []), 1.0)


def test_the_segments_of_a_real_clip_decode_to_exactly_the_whole_clip(make_clip):
    source = make_clip("in.mkv", frames=40, codec="libx264", options={"g": "5", "bf": "2"})
    plan = plan_segments(read_packet_index(source), segment_seconds=0.3)
    assert len(plan) >= 4
    layout = Layout("yuv420p")

    def frames(start: int | None = None, end: int | None = None) -> list[tuple[int, bytes]]:
        items = read_items(source, layout, [], DecodeStats(), 1, start_pts=start, end_pts=end)
        return [(i.pts, b"".join(p.tobytes() for p in i.planes)) for i in items if isinstance(i, VideoItem)]

    joined = [frame for segment in plan for frame in frames(segment.start_pts, segment.end_pts)]
    assert joined == frames()
    assert [len(frames(s.start_pts, s.end_pts)) for s in plan] == [s.frames for s in plan]


def test_the_default_length_gives_each_worker_about_four_segments_within_bounds():
    from vsr.segments.plan import default_segment_seconds

    def seconds_long(duration: int) -> PacketIndex:
        return index(list(range(0, duration * 25)), [0])

    assert default_segment_seconds(seconds_long(400), workers=2) == 50.0
    assert default_segment_seconds(seconds_long(10), workers=2) == 4.0  # no shorter: each segment has a fixed cost
    assert default_segment_seconds(seconds_long(7200), workers=8) == 60.0  # no longer: what a crash can lose
