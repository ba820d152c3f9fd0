"""Planning segments: cut points at keyframes, from the packet index alone.

Never from frame counts or the average frame rate: with variable frame rate or B-frames those
put cuts where no frame starts (the way other tools lose or duplicate frames at the joins).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction

from vsr.errors import ConfigError, InputError
from vsr.media.index import PacketIndex


@dataclass(frozen=True)
class Segment:
    """Frames with start_pts <= pts < end_pts (`end_pts` None: to the end), in the video time base.
    `start_pts` is a keyframe, so a decoder can start there (the first segment's is the first
    frame's); `frames`: how many frames the index holds in that span.

    Context (multi-frame mode, whose window around a frame reaches k frames before and after it):
    `context_start_pts` is the pts of the first of the up to k frames before start_pts that are
    read and fused as neighbours but not written (None: none), and `context_after` how many frames
    at or after end_pts are read the same way.

    `leading`: of the first segment's frames, those before the first keyframe; a file cut in the
    middle of a GOP starts with frames the decoder cannot make, and may lose up to this many."""

    index: int
    start_pts: int
    end_pts: int | None
    frames: int
    context_start_pts: int | None = None
    context_after: int = 0
    leading: int = 0


DEFAULT_SEGMENTS_PER_WORKER = 4
"""A default plan gives each worker about this many segments: a worker that finishes early then
waits for at most a quarter of its share (the tail), while each segment stays long enough that its
fixed cost (a task, a seek, the encoder's start, the check, the join) is small."""
MIN_DEFAULT_SEGMENT_SECONDS = 4.0
"""The shortest default segment. Measured on the 2-core machine (README, segmented runs): about
0.5 s of fixed cost per segment (the pipeline's start, the encoder's start and flush, the check),
against 4 s of 24 fps 540p video taking about 16 s to upscale there with `espcn` x2: about 3 %."""
MAX_DEFAULT_SEGMENT_SECONDS = 60.0
"""The longest default segment: a crash loses at most about a minute of video per worker, and a
resumed job redoes no more than that."""


def plan_segments(index: PacketIndex, segment_seconds: float, *, context: int = 0) -> list[Segment]:
    """Consecutive segments covering every frame of `index` once, each starting at a keyframe and
    at least `segment_seconds` long where the keyframes allow (a single-GOP file is one segment).

    Frames before the first keyframe (an open GOP at the start) join the first segment.
    `context`: the multi-frame window's radius k; each segment then names the k frames before
    and after it that its windows reach (Segment.context_start_pts, context_after).
    Raises ConfigError for a non-positive length, ValueError for a negative context, InputError for
    an index without frames.
    """
    if not 0 < segment_seconds < math.inf:
        raise ConfigError(f"the segment length must be a positive number of seconds, got {segment_seconds}")
    if context < 0:
        raise ValueError(f"context must be at least 0, got {context}")
    if not index.pts:
        raise InputError("the video stream holds no frame to plan segments over")
    span = Fraction(segment_seconds) / index.time_base
    cuts = [index.pts[0]]
    first_keyframe = index.keyframes[0] if index.keyframes else index.pts[0]
    for keyframe in index.keyframes:  # the first segment counts from its first keyframe: the frames before it decode to nothing
        if keyframe > first_keyframe and keyframe - max(cuts[-1], first_keyframe) >= span:
            cuts.append(keyframe)
    ends: list[int | None] = [*cuts[1:], None]
    segments = []
    for number, (start, end) in enumerate(zip(cuts, ends)):
        first = bisect_left(index.pts, start)
        after = 0 if end is None else min(context, len(index.pts) - bisect_left(index.pts, end))
        before = index.pts[max(0, first - context)] if context and first else None
        leading = _frames_between(index.pts, start, index.keyframes[0]) if number == 0 and index.keyframes else 0
        segments.append(Segment(number, start, end, _frames_between(index.pts, start, end), before, after, leading))
    return segments


def default_segment_seconds(index: PacketIndex, workers: int) -> float:
    """The segment length when none is given: the video's duration shared out so that each of
    `workers` gets about DEFAULT_SEGMENTS_PER_WORKER segments, within MIN_DEFAULT_SEGMENT_SECONDS
    and MAX_DEFAULT_SEGMENT_SECONDS."""
    if not index.pts:
        return MAX_DEFAULT_SEGMENT_SECONDS
    duration = float((index.pts[-1] - index.pts[0]) * index.time_base)
    share = duration / (max(1, workers) * DEFAULT_SEGMENTS_PER_WORKER)
    return min(MAX_DEFAULT_SEGMENT_SECONDS, max(MIN_DEFAULT_SEGMENT_SECONDS, round(share, 1)))


def _frames_between(pts: tuple[int, ...], start: int, end: int | None) -> int:
    """How many of the sorted `pts` lie in [start, end)."""
    return (len(pts) if end is None else bisect_left(pts, end)) - bisect_left(pts, start)
