"""FFmpeg filter chains on decoded frames (vsr.media.filters): what goes in comes out, filtered.

hqdn3d is GPL and absent from PyAV's wheels, so the denoisers here are atadenoise (temporal: it
holds frames back) and nlmeans (spatial).
"""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from vsr.errors import ConfigError, VsrError
from vsr.media.decode import DecodeStats, read_items
from vsr.media.filters import VideoFilterGraph, parse_filter_chain
from vsr.media.frames import Layout, VideoItem
from vsr.media.probe import probe
from videoclips import raw_planes


def decoded_frames(path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def run_chain(chain: VideoFilterGraph, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
    out = [filtered for frame in frames for filtered in chain.push(frame)]
    return out + chain.flush()


def y_plane(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
    rows = np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // np.dtype(dtype).itemsize)
    return rows[: frame.height, : frame.width]


def roughness(luma: np.ndarray) -> float:
    """Mean absolute Laplacian: what a denoiser lowers."""
    return float(np.abs(cv2.Laplacian(luma.astype(np.float32), cv2.CV_32F)).mean())


NOISY_FRAMES = 10


@pytest.fixture
def noisy_clip(tmp_path):
    """10 frames, 64x48: a smooth moving gradient under fresh noise in every frame (sigma 12),
    stored losslessly (FFV1), so that the noise reaches the filter as it was drawn."""
    path = tmp_path / "noisy.mkv"
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    with av.open(str(path), "w") as output:
        stream = output.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(NOISY_FRAMES):
            grey = 60 + 1.5 * x + y + 2 * index + rng.normal(0, 12, x.shape)
            rgb = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


TEMPORAL_DENOISER = "atadenoise=0a=0.2:0b=0.4:1a=0.2:1b=0.4"
"""Averages up to 9 frames around each (so it holds frames back); thresholds wide enough for sigma 12."""


@pytest.mark.parametrize("denoiser", [TEMPORAL_DENOISER, "nlmeans=s=10"])
def test_a_denoiser_keeps_frames_and_timestamps_and_smooths_the_pixels(noisy_clip, denoiser):
    frames = decoded_frames(noisy_clip)
    out = run_chain(VideoFilterGraph(denoiser, "yuv420p"), frames)
    assert [f.pts for f in out] == [f.pts for f in frames]
    assert {f.time_base for f in out} == {frames[0].time_base}
    assert all((f.width, f.height, f.format.name) == (64, 48, "yuv420p") for f in out)
    for before, after in zip(frames, out):
        assert not np.array_equal(y_plane(before), y_plane(after))
        assert roughness(y_plane(after)) < 0.8 * roughness(y_plane(before))


@pytest.mark.parametrize("target", ["yuv444p", "yuv422p"])
def test_an_empty_chain_only_converts_the_pixel_format_and_keeps_luma_exactly(noisy_clip, target):
    frames = decoded_frames(noisy_clip)
    out = run_chain(VideoFilterGraph("", target), frames)
    assert [f.format.name for f in out] == [target] * len(frames)
    assert [f.pts for f in out] == [f.pts for f in frames]
    for before, after in zip(frames, out):
        assert np.array_equal(y_plane(after), y_plane(before))


def test_a_ten_bit_target_keeps_the_picture(noisy_clip):
    frames = decoded_frames(noisy_clip)
    out = run_chain(VideoFilterGraph("", "yuv420p10le"), frames)
    assert out[0].format.name == "yuv420p10le"
    assert np.abs(y_plane(out[0]) / 4.0 - y_plane(frames[0])).max() <= 1


def test_flush_returns_the_frame_yadif_holds_back(noisy_clip):
    frames = decoded_frames(noisy_clip)
    chain = VideoFilterGraph("yadif", "yuv420p")
    pushed = [out for frame in frames for out in chain.push(frame)]
    assert len(pushed) == len(frames) - 1  # yadif needs the next frame before it gives one
    flushed = chain.flush()
    assert len(flushed) == 1
    out = pushed + flushed
    # yadif halves the time base; the graph's timestamps are kept, so the times are the same
    assert out[0].time_base == frames[0].time_base / 2
    assert [f.pts * f.time_base for f in out] == [f.pts * f.time_base for f in frames]
    assert chain.flush() == []


def test_a_chain_can_be_used_again_after_flush(noisy_clip):
    frames = decoded_frames(noisy_clip)
    chain = VideoFilterGraph(TEMPORAL_DENOISER, "yuv420p")
    first, second = run_chain(chain, frames), run_chain(chain, frames)
    assert len(first) == len(second) == NOISY_FRAMES
    assert all(np.array_equal(y_plane(a), y_plane(b)) for a, b in zip(first, second))


@pytest.mark.parametrize(
    "description,message",
    [
        ("nosuchfilter", "no video filter named 'nosuchfilter'"),
        ("yadif,nosuchfilter=3", "no video filter named 'nosuchfilter'"),
        ("atadenoise=0a=abc", "bad options for atadenoise"),
        ("yadif,,atadenoise", "empty filter"),
        ("yadif,", "empty filter"),
        ("[in]yadif[out]", "not a simple chain"),
        ("yadif;atadenoise", "not a simple chain"),
    ],
)
def test_a_bad_chain_is_a_config_error_naming_it(description, message):
    with pytest.raises(ConfigError, match=message) as caught:
        VideoFilterGraph(description, "yuv420p")
    assert isinstance(caught.value, VsrError)
    assert repr(description) in str(caught.value)


@pytest.mark.parametrize(
    "description,message",
    [("crop=200:200", "cannot run on 64x48 yuv420p frames: Invalid too big"), ("volume=0.5", "Media type mismatch")],
)
def test_a_chain_that_cannot_run_on_the_input_fails_when_given_the_input(noisy_clip, description, message):
    VideoFilterGraph(description, "yuv420p")  # fine without knowing the input
    with pytest.raises(ConfigError, match=message):
        VideoFilterGraph(description, "yuv420p", probe(noisy_clip))


@pytest.mark.parametrize(
    "description,chain",
    [
        ("", []),
        ("  yadif ", [("yadif", None)]),
        ("yadif=1, atadenoise=0a=0.1:s=5", [("yadif", "1"), ("atadenoise", "0a=0.1:s=5")]),
        # one level of quoting and escaping is undone, as FFmpeg's graph parser does
        ("select='eq(n\\,0)',scale=w=2*iw:h=-2", [("select", "eq(n\\,0)"), ("scale", "w=2*iw:h=-2")]),
        ("drawtext=text=it\\'s", [("drawtext", "text=it's")]),
        ("drawtext=text=' a, b '", [("drawtext", "text= a, b ")]),
    ],
)
def test_parse_filter_chain(description, chain):
    assert parse_filter_chain(description) == chain


def test_read_items_runs_the_chain_as_its_frame_filter(noisy_clip):
    info = probe(noisy_clip)
    layout = Layout("yuv420p")
    items = read_items(
        noisy_clip, layout, [], DecodeStats(), 1, frame_filter=VideoFilterGraph(TEMPORAL_DENOISER, layout.pix_fmt, info)
    )
    frames = [item for item in items if isinstance(item, VideoItem)]
    originals = raw_planes(noisy_clip)
    assert [item.index for item in frames] == list(range(len(originals)))
    assert [item.pts for item in frames] == [f.pts for f in decoded_frames(noisy_clip)]
    assert all(roughness(item.planes[0]) < roughness(planes[0]) for item, planes in zip(frames, originals))


def test_frames_need_a_time_base():
    frame = av.VideoFrame(16, 16, "yuv420p")
    frame.pts = 0
    with pytest.raises(ValueError, match="time_base"):
        VideoFilterGraph("null", "yuv420p").push(frame)
    frame.time_base = Fraction(1, 25)
    assert [f.pts for f in VideoFilterGraph("null", "yuv420p").push(frame)] == [0]


def test_a_chain_that_changes_the_frame_size_is_refused():
    chain = VideoFilterGraph("crop=32:24", "yuv420p")
    frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    with pytest.raises(ConfigError, match="changes the frame size"):
        chain.push(frame)
