"""`--denoise temporal` in the pipeline (vsr.pipeline.denoise): frames, timestamps, packets and
audio come through as they were, the noise does not, and segments equal a whole run."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vsr
from test_queue import frames_in_flight
from test_segments_join import CLIP, LOSSLESS
from textures import fourier_shift, texture
from videoclips import audio_packets, read_index, read_video
from vsr.media.frames import Passthrough, VideoItem
from vsr.misr.denoise import TemporalDenoiser
from vsr.options import TEMPORAL_DENOISE_RADIUS
from vsr.pipeline.denoise import DenoiseStats, denoise_frames
from vsr.pipeline.queue import END, StageQueue
from vsr.segments.run import upscale_in_segments

TEMPORAL = LOSSLESS.replace(filters={"denoise": "temporal"})


def write_moving_clip(path: Path, sigma: float, frames: int = 12) -> None:
    """A lossless 96x64 clip of a texture moving (1.5, 0.5) px a frame, with luma noise `sigma`."""
    base = texture(64, 96, seed=21, blur=2.0)
    clean = [np.clip(np.rint(fourier_shift(base, 1.5 * t, 0.5 * t)), 0, 255).astype(np.uint8) for t in range(frames)]
    rng = np.random.default_rng(22)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"qp": "0"}
        for index, luma in enumerate(clean):
            noisy = np.clip(np.rint(luma + rng.normal(0, sigma, luma.shape)), 0, 255).astype(np.uint8)
            planes = np.concatenate([noisy, np.full((32, 96), 128, np.uint8)])  # yuv420p: Y, then U and V
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _rms(lumas: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """RMS difference in 8-bit levels of two lists of decoded lumas (floats in [0, 1]), inside."""
    inner = (slice(16, -16), slice(16, -16))
    return 255.0 * float(np.sqrt(np.mean([(a[inner] - b[inner]) ** 2 for a, b in zip(lumas, reference)])))


def test_temporal_denoising_removes_noise_and_keeps_every_frame_and_timestamp(tmp_path):
    clean, noisy = tmp_path / "clean.mp4", tmp_path / "noisy.mp4"
    write_moving_clip(clean, sigma=0.0)
    write_moving_clip(noisy, sigma=10.0)

    def upscaled(source: Path, name: str, **filters) -> list[np.ndarray]:
        result = vsr.upscale_video(source, tmp_path / name, scale=2, model="bicubic", crf=0, **filters)
        facts = read_video(result.output)
        assert facts.pts == read_video(source).pts and len(facts.pts) == 12
        return facts.lumas

    reference = upscaled(clean, "clean_x2.mp4")
    assert _rms(upscaled(noisy, "dn.mp4", denoise="temporal"), reference) < 0.6 * _rms(upscaled(noisy, "plain.mp4"), reference)


def test_frames_audio_and_order_survive_temporal_denoising(make_clip, tmp_path):
    source = make_clip("in.mp4", **CLIP)
    result = vsr.upscale_video(source, tmp_path / "out.mp4", options=TEMPORAL)
    facts, original = read_video(result.output), read_video(source)
    assert facts.pts == original.pts
    assert [read_index(y) for y in facts.lumas] == list(range(40))
    assert audio_packets(result.output) == audio_packets(source)


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_segments_denoised_temporally_equal_a_whole_run(make_clip, tmp_path, mode):
    """Each segment reads the neighbours its first and last frames are averaged with (and, in
    multi-frame mode, those of their window's neighbours) as context."""
    source = make_clip("in.mp4", **CLIP)
    options = TEMPORAL.replace(multi_frame={"mode": mode, "frames": 3})
    whole = read_video(vsr.upscale_video(source, tmp_path / "whole.mp4", options=options).output)
    cut = read_video(upscale_in_segments(source, tmp_path / "cut.mp4", options, segment_seconds=0.5).output)
    assert cut.pts == whole.pts and len(cut.pts) == 40
    assert all((a == b).all() for a, b in zip(whole.lumas, cut.lumas))


def _item(index: int, value: int) -> VideoItem:
    return VideoItem(index, pts=index * 10, duration=10, planes=[np.full((16, 16), value, np.uint8)])


def _run_stage(items: list, **kwargs) -> list:
    source, sink = StageQueue(64, threading.Event()), StageQueue(64, threading.Event())
    for item in [*items, END]:
        source.put(item)
    denoise_frames(TemporalDenoiser(), source, sink, threading.Event(), DenoiseStats(), **kwargs)
    out = []
    while (item := sink.get()) is not END:
        out.append(item)
    return out


def test_the_stage_keeps_packets_between_the_frames_they_came_between():
    items = [_item(0, 50), Passthrough(1, "a"), _item(1, 50), _item(2, 50), Passthrough(1, "b"), _item(3, 50)]
    out = _run_stage(items)
    assert [o.index if isinstance(o, VideoItem) else o.packet for o in out] == [0, "a", 1, 2, "b", 3]
    assert all((o.planes[0] == 50).all() for o in out if isinstance(o, VideoItem))


def test_a_segments_context_frames_are_neighbours_and_go_on_only_to_the_multi_frame_stage():
    items = [_item(i, 40) for i in range(6)]
    in_scope = lambda pts: 20 <= pts < 40  # frames 2 and 3
    assert [o.index for o in _run_stage(items, written=in_scope, pass_context=False)] == [2, 3]
    assert [o.index for o in _run_stage(items, written=in_scope, pass_context=True)] == list(range(6))


def test_temporal_denoising_on_the_command_line(cli, tmp_path, caplog):
    noisy = tmp_path / "noisy.mp4"
    write_moving_clip(noisy, sigma=6.0, frames=6)
    result = cli("upscale", noisy, "-o", tmp_path / "out.mp4", "-s", "2", "-m", "bicubic", "--denoise", "temporal")
    assert result.exit_code == 0, result.output
    assert len(read_video(tmp_path / "out.mp4").pts) == 6
    assert "temporal denoising: 6 frames, noise σ" in result.output + caplog.text


def test_restore_denoises_temporally_unless_told_otherwise(make_clip, cli, tmp_path, caplog):
    clip = make_clip("old.mp4", frames=4)
    on = cli("upscale", clip, "--restore", "-s", "2", "-o", tmp_path / "on.mp4")
    said_on = on.output + caplog.text
    caplog.clear()
    off = cli("upscale", clip, "--restore", "-s", "2", "--denoise", "off", "-o", tmp_path / "off.mp4")
    assert on.exit_code == off.exit_code == 0
    assert "temporal denoising: 4 frames" in said_on
    assert "temporal denoising" not in off.output + caplog.text


def test_the_denoising_stage_holds_a_bounded_number_of_frames(make_clip, monkeypatch):
    """120 frames: the decoder runs ahead of the writer by no more than the queues, the upscale
    stage's two batches and the frames the denoiser waits for (the radius and the one in hand)."""
    source = make_clip("long.mkv", width=48, height=32, frames=120, codec="ffv1")
    lead = frames_in_flight(monkeypatch)
    result = vsr.upscale_video(source, scale=2, model="bicubic", preset="ultrafast", queue_size=2, batch_size=1,
                               denoise="temporal")
    assert result.frames == 120
    bound = 1 + 2 + (TEMPORAL_DENOISE_RADIUS + 1) + 2 + 2 * 1 + 2 + 1
    assert max(lead) <= bound, f"{max(lead)} frames in flight, more than the {bound} the stages allow"


def test_a_stopped_run_does_not_report_its_denoising(make_clip, tmp_path, caplog):
    """An interrupted --denoise temporal run said "temporal denoising: ... left as they were" before its one line."""
    import logging

    def interrupt(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    caplog.set_level(logging.INFO, logger="vsr")
    with pytest.raises(KeyboardInterrupt):
        vsr.upscale_video(make_clip("in.mp4", frames=40), tmp_path / "out.mp4", scale=2, model="bicubic",
                          denoise="temporal", progress=interrupt)
    assert not any(m.startswith("temporal denoising") for m in caplog.messages)
    vsr.upscale_video(make_clip("in.mp4", frames=6), tmp_path / "out.mp4", scale=2, model="bicubic", denoise="temporal")
    assert any(m.startswith("temporal denoising: 6 frames") for m in caplog.messages)
