"""Planning segments: cut points at keyframes, from the packet index alone.

Never from frame counts or the average frame rate: with variable frame rate or B-frames those
put cuts where no frame starts (the way other tools lose or duplicate frames at the joins).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction

from vsr.errors import InputError
from vsr.media.index import PacketIndex


@dataclass(frozen=True)
class Segment:
    """Frames with start_pts <= pts < end_pts (`end_pts` None: to the end), in the video time base.
    `start_pts` is a keyframe, so a decoder can start there (the first segment's is the first
    frame's); `frames`: how many frames the index holds in that span."""

    index: int
    start_pts: int
    end_pts: int | None
    frames: int


def plan_segments(index: PacketIndex, segment_seconds: float) -> list[Segment]:
    """Consecutive segments covering every frame of `index` once, each starting at a keyframe and
    at least `segment_seconds` long where the keyframes allow (a single-GOP file is one segment).

    Frames before the first keyframe (an open GOP at the start) join the first segment.
    Raises ValueError for a non-positive length, InputError for an index without frames.
    """
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    if not index.pts:
        raise InputError("the video stream holds no frame to plan segments over")
    span = Fraction(segment_seconds) / index.time_base
    cuts = [index.pts[0]]
    for keyframe in index.keyframes:
        if keyframe - cuts[-1] >= span:
            cuts.append(keyframe)
    ends: list[int | None] = [*cuts[1:], None]
    return [
        Segment(number, start, end, _frames_between(index.pts, start, end))
        for number, (start, end) in enumerate(zip(cuts, ends))
    ]


def _frames_between(pts: tuple[int, ...], start: int, end: int | None) -> int:
    """How many of the sorted `pts` lie in [start, end)."""
    return (len(pts) if end is None else bisect_left(pts, end)) - bisect_left(pts, start)
