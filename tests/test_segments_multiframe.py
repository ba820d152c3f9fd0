"""Multi-frame mode in segments: each segment reads the k frames before and after it as context
(fused as neighbours, not written), so its frames equal those of an unsegmented run."""

from __future__ import annotations

from test_segments_join import CLIP, LOSSLESS
from videoclips import read_video
from vsr import upscale_video
from vsr.media.index import read_packet_index
from vsr.options import FilterOptions
from vsr.segments.plan import plan_segments
from vsr.segments.run import upscale_in_segments

MULTI = LOSSLESS.replace(multi_frame={"mode": "multi", "frames": 5})


def test_the_plan_names_the_context_of_each_segment(make_clip):
    index = read_packet_index(make_clip("in.mp4", **CLIP))
    plan = plan_segments(index, 0.5, context=2)
    assert [(s.start_pts, s.end_pts) for s in plan] == [(0, 15 * 512), (15 * 512, 30 * 512), (30 * 512, None)]
    assert [(s.context_start_pts, s.context_after) for s in plan] == [(None, 2), (13 * 512, 2), (28 * 512, 0)]


def test_multi_frame_segments_equal_an_unsegmented_run(make_clip, tmp_path):
    source = make_clip("in.mp4", **CLIP)
    whole = read_video(upscale_video(source, tmp_path / "whole.mp4", options=MULTI).output)
    cut = read_video(upscale_in_segments(source, tmp_path / "cut.mp4", MULTI, segment_seconds=0.5).output)
    single = read_video(upscale_video(source, tmp_path / "single.mp4", options=LOSSLESS).output)
    assert cut.pts == whole.pts and len(cut.pts) == 40
    assert all((a == b).all() for a, b in zip(whole.lumas, cut.lumas))
    assert any((a != b).any() for a, b in zip(whole.lumas, single.lumas))  # the fusion did change frames


def test_a_segments_own_counts_are_not_said_as_the_runs(make_clip, tmp_path, caplog):
    """Every segment said "temporal denoising: N frames" with its context frames counted (110 for 60)."""
    import logging

    source = make_clip("in.mp4", **CLIP)
    options = MULTI.replace(filters={"denoise": "temporal"})
    with caplog.at_level(logging.INFO, logger="vsr"):
        upscale_in_segments(source, tmp_path / "cut.mp4", options, segment_seconds=0.5)
    assert not [m for m in caplog.messages if m.startswith("temporal denoising:")]
    with caplog.at_level(logging.INFO, logger="vsr"):
        upscale_video(source, tmp_path / "whole.mp4", options=options)
    assert [m for m in caplog.messages if m.startswith("temporal denoising:")][0].startswith("temporal denoising: 40 frames")


DEINTERLACED = LOSSLESS.replace(filters={"deinterlace": "bwdif"})


def test_temporal_filters_see_their_neighbours_across_cuts(make_clip, tmp_path, monkeypatch):
    """bwdif reads the frames around each frame: a segment reads them as context (filtered, not
    written), so its frames equal a whole run's; without that context the frames at cuts differ."""
    source = make_clip("in.mp4", **CLIP)
    whole = read_video(upscale_video(source, tmp_path / "whole.mp4", options=DEINTERLACED).output)
    cut = read_video(upscale_in_segments(source, tmp_path / "cut.mp4", DEINTERLACED, segment_seconds=0.5).output)
    assert cut.pts == whole.pts and len(cut.pts) == 40
    assert all((a == b).all() for a, b in zip(whole.lumas, cut.lumas))
    monkeypatch.setattr(FilterOptions, "temporal_reach", lambda self: 0)
    blind = read_video(upscale_in_segments(source, tmp_path / "blind.mp4", DEINTERLACED, segment_seconds=0.5).output)
    assert blind.pts == whole.pts
    assert any((a != b).any() for a, b in zip(whole.lumas, blind.lumas))
