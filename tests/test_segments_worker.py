"""vsr.segments.worker: one segment upscaled into a checked, video-only file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import pytest

from videoclips import listing, read_video
from vsr import upscale_video
from vsr.errors import PipelineError
from vsr.media.index import read_packet_index
from vsr.options import EncodeOptions, ModelOptions, UpscaleOptions
from vsr.segments.plan import plan_segments
from vsr.segments.worker import SegmentResult, upscale_segment

OPTIONS = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2), encode=EncodeOptions(crf=0))
CLIP = dict(frames=40, options={"g": "5", "bf": "2"}, audio=("aac",))


def test_a_segment_file_holds_exactly_its_frames_and_no_other_stream(make_clip, tmp_path: Path):
    source = make_clip("in.mp4", **CLIP)
    plan = plan_segments(read_packet_index(source), segment_seconds=0.5)
    assert len(plan) == 3
    whole = read_video(upscale_video(source, tmp_path / "whole.mp4", options=OPTIONS).output)
    middle = plan[1]
    result = upscale_segment(source, middle, OPTIONS, tmp_path / "seg1.mp4")
    part = read_video(tmp_path / "seg1.mp4")
    expected = [p for p in whole.pts if middle.start_pts <= p < middle.end_pts]
    assert result == SegmentResult(middle.frames, expected[0], expected[-1], (tmp_path / "seg1.mp4").stat().st_size)
    assert part.pts == expected and part.audio_codecs == [] and (part.width, part.height) == (128, 96)
    first = whole.pts.index(expected[0])
    assert all((a == b).all() for a, b in zip(part.lumas, whole.lumas[first:first + len(expected)]))
    with av.open(str(tmp_path / "seg1.mp4")) as container:
        assert len(container.streams) == 1


def test_a_segment_that_fails_its_check_is_refused_and_leaves_no_file(make_clip, tmp_path: Path):
    source = make_clip("in.mp4", **CLIP)
    segment = plan_segments(read_packet_index(source), segment_seconds=0.5)[1]
    before = listing(tmp_path)
    wrong = dataclasses.replace(segment, frames=segment.frames + 1)
    with pytest.raises(PipelineError, match="segment 1: .*plan holds 16"):
        upscale_segment(source, wrong, OPTIONS, tmp_path / "seg1.mp4")
    shifted = dataclasses.replace(segment, start_pts=segment.start_pts - 1)
    with pytest.raises(PipelineError, match="segment 1: the frames run from pts"):
        upscale_segment(source, shifted, OPTIONS, tmp_path / "seg1.mp4")
    assert listing(tmp_path) == before


def test_cut_times_round_halves_away_from_zero_as_ffmpegs_muxers_do():
    """15015/30000 s (29.97 fps) is 500.5 ms: Matroska stores 501 (half to even said 500: the check failed)."""
    from fractions import Fraction

    from vsr.segments.worker import _rescaled

    assert _rescaled(15015, Fraction(1, 30000), Fraction(1, 1000)) == 501
    assert _rescaled(-15015, Fraction(1, 30000), Fraction(1, 1000)) == -501
    assert _rescaled(45045, Fraction(1, 30000), Fraction(1, 1000)) == 1502  # 1501.5 (half to even: 1502 too)
    assert _rescaled(75075, Fraction(1, 30000), Fraction(1, 1000)) == 2503  # 2502.5 (half to even: 2502)
    assert _rescaled(None, Fraction(1, 30000), Fraction(1, 1000)) is None
