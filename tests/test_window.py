"""The multi-frame stage (vsr.pipeline.window) and `vsr upscale --mode multi` end to end."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vsr
from videoclips import audio_packets, raw_planes, read_index, read_video
from vsr.misr import MultiFrameSettings, MultiFrameSR
from vsr.engine.bicubic import BicubicEngine
from vsr.media.frames import Layout, Passthrough, VideoItem
from vsr.pipeline.queue import END, StageQueue
from vsr.engine.windows import fusion_chunk
from vsr.pipeline.window import WindowStats, upscale_windows


def _texture(index: int, height: int = 24, width: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = 0.7 * index
    plane = 128 + 50 * np.sin((x + shift) / 3.1) * np.cos(y / 2.3) + 30 * np.cos((x - shift + y) / 4.7)
    return np.clip(np.rint(plane), 0, 255).astype(np.uint8)


class CountingFuser(MultiFrameSR):
    """Records the most LR frames it ever held."""

    most_held = 0

    def push(self, luma):
        index = super().push(luma)
        self.most_held = max(self.most_held, len(self._frames))
        return index


def _run_stage(sequence: list, *, frames: int, batch: int, scale: int = 2):
    """Feed `sequence` (VideoItems and Passthroughs) through the stage; return what came out, in order."""
    layout = Layout("gray")
    stop = threading.Event()
    source: StageQueue = StageQueue(len(sequence) + 1, stop)
    sink: StageQueue = StageQueue(2 * len(sequence) + 2, stop)
    for item in sequence:
        source.put(item)
    source.put(END)
    fuser = CountingFuser(scale, MultiFrameSettings(frames=frames))
    stats = WindowStats()

    def make_frame(planes, item):
        return ("frame", item.index, planes[0].shape, planes[0].dtype)

    upscale_windows(BicubicEngine(scale), fuser, layout, batch, make_frame, source, sink, stop, stats)
    out = []
    while (got := sink.get()) is not END:
        out.append(got)
    return out, stats, fuser


def _sequence(count: int, packets_every: int = 2) -> list:
    seq: list = []
    for i in range(count):
        seq.append(VideoItem(i, pts=10 * i, duration=10, planes=[_texture(i)]))
        if i % packets_every == 0:
            seq.append(Passthrough(1, packet=f"audio after frame {i}"))
    return [Passthrough(1, packet="audio before any frame"), *seq]


@pytest.mark.parametrize("count", [1, 2, 7])
@pytest.mark.parametrize("frames", [1, 3, 5])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_sliding_window_yields_one_output_per_input_frame_in_order(count, frames, batch):
    seq = _sequence(count)
    out, stats, fuser = _run_stage(seq, frames=frames, batch=batch)
    assert [o[1] for o in out if isinstance(o, tuple)] == list(range(count))
    assert stats.frames == count
    assert all(o[2] == (48, 64) and o[3] == np.uint8 for o in out if isinstance(o, tuple))
    # every packet comes out after exactly the frames that came in before it, and in its order
    expected = [("frame", it.index) if isinstance(it, VideoItem) else it.packet for it in seq]
    got = [(o[0], o[1]) if isinstance(o, tuple) else o.packet for o in out]
    assert got == expected
    # bounded: never more than the window and a batch of frames held
    assert fuser.most_held <= frames + batch


def test_memory_stays_bounded_on_a_long_stream():
    out, stats, fuser = _run_stage(_sequence(40, packets_every=5), frames=5, batch=2)
    assert stats.frames == 40
    assert fuser.most_held <= 5 + 2
    assert len(fuser._frames) <= 5 and len(fuser._flows) <= 2 * 4 * 3


def test_fusion_chunk_is_at_least_one_and_shrinks_with_the_frame_size():
    assert fusion_chunk(64, 48, 4, 5) > fusion_chunk(960, 540, 4, 5) == 1


def test_multi_mode_end_to_end_keeps_frames_timestamps_and_audio(make_clip, tmp_path):
    source = make_clip("in.mkv", frames=12, audio=("opus",))
    result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", mode="multi", frames=5)
    assert result.frames == 12
    before, after = read_video(source), read_video(result.output)
    assert after.pts == before.pts
    assert (after.width, after.height) == (128, 96)
    assert [read_index(y, 64, 48) for y in after.lumas] == list(range(12))
    assert audio_packets(result.output) == audio_packets(source)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_multi_mode_batch_sizes_agree_end_to_end(make_clip, tmp_path, pix_fmt):
    source = make_clip("in.mkv", frames=8, pix_fmt=pix_fmt)
    outputs = []
    for batch in (1, 3):
        result = vsr.upscale_video(
            source, tmp_path / f"b{batch}.mkv", scale=2, model="bicubic", mode="multi", frames=3, batch_size=batch,
            codec="ffv1",
        )
        outputs.append(raw_planes(result.output))
    assert len(outputs[0]) == len(outputs[1]) == 8
    for a, b in zip(*outputs):
        for pa, pb in zip(a, b):
            assert np.abs(pa.astype(np.int32) - pb.astype(np.int32)).max() <= 1
    assert outputs[0][0][0].dtype == (np.uint16 if pix_fmt.endswith("10le") else np.uint8)


def test_multi_mode_differs_from_single_and_stays_close_to_it(make_clip, tmp_path):
    source = make_clip("in.mkv", frames=6)
    single = vsr.upscale_video(source, tmp_path / "s.mkv", scale=2, model="bicubic", codec="ffv1")
    multi = vsr.upscale_video(source, tmp_path / "m.mkv", scale=2, model="bicubic", codec="ffv1", mode="multi")
    a, b = raw_planes(single.output), raw_planes(multi.output)
    diffs = [np.abs(pa[0].astype(np.int32) - pb[0].astype(np.int32)) for pa, pb in zip(a, b)]
    assert any(d.max() > 0 for d in diffs)
    assert all(d.mean() < 8 for d in diffs)


def test_debug_dir_receives_confidence_maps(make_clip, tmp_path):
    source = make_clip("in.mkv", frames=5)
    debug = tmp_path / "debug"
    vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", mode="multi", frames=3, debug_dir=debug)
    pngs = sorted(p.name for p in debug.glob("*.png"))
    assert pngs == ["confidence_000000.png", "confidence_000001.png", "confidence_000002.png"]
    assert "window" in (debug / "confidence_000001.txt").read_text()


def test_cli_multi_mode_and_a_bad_window(cli, make_clip, tmp_path):
    source = make_clip("in.mkv", frames=4)
    ok = cli("upscale", source, "-o", tmp_path / "o.mkv", "-s", "2", "-m", "bicubic", "--mode", "multi", "--frames", "3", "-q")
    assert ok.exit_code == 0, ok.output
    bad = cli("upscale", source, "-o", tmp_path / "b.mkv", "-s", "2", "-m", "bicubic", "--mode", "multi", "--frames", "4")
    assert bad.exit_code == 1
    assert "odd" in bad.output
    assert not (tmp_path / "b.mkv").exists()


def test_unknown_mode_is_a_clear_error(make_clip, tmp_path):
    source = make_clip("in.mkv", frames=2)
    with pytest.raises(vsr.VsrError, match="unknown mode"):
        vsr.upscale_video(source, tmp_path / "o.mkv", scale=2, model="bicubic", mode="triple")
