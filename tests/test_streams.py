"""Streams beside the video: subtitles copied where the container allows, dropped with a warning
elsewhere, and the output's streams in the input's order."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vsr

SUBTITLES = [(100, b"Hello"), (600, b"world")]


def clip_with_subtitles(path: Path, audio_first: bool) -> Path:
    with av.open(str(path), "w") as output:
        audio = output.add_stream("libopus", rate=48000) if audio_first else None
        video = output.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        subtitles = output.add_mux_stream("subrip", time_base=Fraction(1, 1000))
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            output.mux(video.encode(frame))
        if audio is not None:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 48000, 0
            output.mux(audio.encode(samples))
            output.mux(audio.encode(None))
        for pts, text in SUBTITLES:
            packet = av.Packet(text)
            packet.stream, packet.pts, packet.dts, packet.duration = subtitles, pts, pts, 400
            packet.time_base = Fraction(1, 1000)
            output.mux(packet)
        output.mux(video.encode(None))
    return path


def stream_types(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [stream.type for stream in container.streams]


@pytest.mark.parametrize("audio_first", [False, True])
def test_subtitles_are_copied_and_stream_order_kept(tmp_path: Path, audio_first: bool) -> None:
    source = clip_with_subtitles(tmp_path / "in.mkv", audio_first)
    result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic")
    assert stream_types(result.output) == stream_types(source)
    with av.open(str(result.output)) as container:
        packets = [(p.pts, bytes(p)) for p in container.demux(container.streams.subtitles[0]) if p.size]
    assert packets == SUBTITLES


def test_subtitles_the_container_cannot_hold_are_dropped_with_a_warning(tmp_path: Path, caplog) -> None:
    source = clip_with_subtitles(tmp_path / "in.mkv", audio_first=False)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic")
    assert stream_types(result.output) == ["video"]
    assert any("dropping subtitle stream" in r.getMessage() for r in caplog.records)
