"""vsr.segments.join: segments upscaled apart and rejoined equal one whole run."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from videoclips import audio_packets, listing, read_video
from vsr import upscale_video
from vsr.errors import OutputError, PipelineError
from vsr.media.index import read_packet_index
from vsr.options import EncodeOptions, ModelOptions, UpscaleOptions
from vsr.segments.join import join_segments
from vsr.segments.plan import plan_segments
from vsr.segments.worker import upscale_segment

LOSSLESS = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2), encode=EncodeOptions(crf=0))
LOSSY = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2), encode=EncodeOptions(crf=18))  # B-frames out too
CLIP = dict(frames=40, options={"g": "5", "bf": "2"}, audio=("aac",))


def segment_files(source: Path, options: UpscaleOptions, folder: Path) -> list[Path]:
    plan = plan_segments(read_packet_index(source), segment_seconds=0.5)
    assert len(plan) == 3
    files = [folder / f"segment{s.index}{source.suffix}" for s in plan]
    for segment, path in zip(plan, files):
        upscale_segment(source, segment, options, path)
    return files


def packet_times(path: Path, kind: str) -> list[tuple[int, int, bytes]]:
    """(pts, dts, payload) of the non-empty packets of the first stream of `kind`, in file order."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(p.pts, p.dts, bytes(p)) for p in container.demux(stream) if p.size]


@pytest.mark.parametrize("suffix, container", [(".mp4", "mp4"), (".mkv", "matroska")])
def test_three_segments_joined_equal_one_whole_run(make_clip, tmp_path: Path, suffix: str, container: str):
    source = make_clip(f"in{suffix}", **CLIP)
    whole = upscale_video(source, tmp_path / f"whole{suffix}", options=LOSSLESS).output
    files = segment_files(source, LOSSLESS, tmp_path)
    joined = tmp_path / f"joined{suffix}"
    assert join_segments(source, files, joined, container) == 40
    a, b = read_video(whole), read_video(joined)
    assert len(b.pts) == 40 and b.pts == a.pts
    assert all((x == y).all() for x, y in zip(a.lumas, b.lumas))
    assert audio_packets(joined) == audio_packets(whole) == audio_packets(source)
    assert [t[:2] for t in packet_times(joined, "audio")] == [t[:2] for t in packet_times(whole, "audio")]


def test_the_joined_video_is_the_segments_packets_with_b_frames_across_the_joins(make_clip, tmp_path: Path):
    source = make_clip("in.mp4", **CLIP)
    files = segment_files(source, LOSSY, tmp_path)
    joined = tmp_path / "joined.mp4"
    join_segments(source, files, joined, "mp4")
    parts = [packet for path in files for packet in packet_times(path, "video")]
    assert packet_times(joined, "video") == parts
    assert any(pts != dts for pts, dts, _ in parts)  # reordered frames: dts runs behind pts
    dts = [d for _, d, _ in parts]
    assert dts == sorted(set(dts))
    assert read_video(joined, keep_lumas=False).pts == read_video(source, keep_lumas=False).pts
    assert audio_packets(joined) == audio_packets(source)


def test_segments_out_of_order_or_encoded_differently_are_refused(make_clip, tmp_path: Path):
    source = make_clip("in.mp4", **CLIP)
    files = segment_files(source, LOSSY, tmp_path)
    (tmp_path / "odd").mkdir()
    odd = segment_files(source, LOSSLESS, tmp_path / "odd")
    before = listing(tmp_path)
    with pytest.raises(PipelineError, match=r"join: segment 1 .*does not come after"):
        join_segments(source, [files[1], files[0], files[2]], tmp_path / "joined.mp4", "mp4")
    with pytest.raises(PipelineError, match=r"join: segment 1 .*encoded differently"):
        join_segments(source, [files[0], odd[1], files[2]], tmp_path / "joined.mp4", "mp4")
    with pytest.raises(PipelineError, match="no segment"):
        join_segments(source, [], tmp_path / "joined.mp4", "mp4")
    assert listing(tmp_path) == before


def test_a_join_the_file_system_refuses_is_an_output_error_and_leaves_nothing(make_clip, tmp_path: Path):
    """A file-size limit (or a full disk) during the join was "OSError: [Errno 27] File too large"."""
    import resource
    import signal

    source = make_clip("in.mp4", **CLIP)
    files = segment_files(source, LOSSLESS, tmp_path)
    before = listing(tmp_path)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (sum(f.stat().st_size for f in files) // 2, limits[1]))
    try:
        with pytest.raises(OutputError, match="cannot write the joined output in .*: file too large"):
            join_segments(source, files, tmp_path / "joined.mp4", "mp4")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    assert listing(tmp_path) == before


def test_matroska_parts_with_b_frames_join_in_order_at_their_frame_rate(make_clip, tmp_path: Path):
    source = make_clip("in.mkv", **CLIP)
    files = segment_files(source, LOSSY, tmp_path)
    parts = [packet for path in files for packet in packet_times(path, "video")]
    assert any(dts is None for _, dts, _ in parts)  # Matroska stores no dts: the first packets of a part have none
    joined = tmp_path / "joined.mkv"
    assert join_segments(source, files, joined, "matroska") == 40
    assert [payload for _, _, payload in packet_times(joined, "video")] == [payload for _, _, payload in parts]
    assert read_video(joined, keep_lumas=False).pts == read_video(source, keep_lumas=False).pts
    with av.open(str(joined)) as container:
        assert container.streams.video[0].average_rate == 25
    with pytest.raises(PipelineError, match=r"join: segment 1 .*does not come after"):
        join_segments(source, [files[1], files[0], files[2]], tmp_path / "wrong.mkv", "matroska")


def test_a_slideshow_without_reordering_joins_from_matroska(make_clip, tmp_path: Path):
    """1 fps, no B-frames: Matroska's demuxer leaves the first 6 packets without a dts, which were
    given 'the first dts minus 1, 2, ... ticks', after their pts: every segment done, the join refused."""
    from vsr.segments.run import upscale_in_segments

    source = make_clip("slow.mp4", frames=12, rate=Fraction(1), options={"bf": "0", "g": "12"})
    result = upscale_in_segments(source, tmp_path / "out.mkv", LOSSLESS, segment_seconds=1000)
    assert result.frames == 12
    assert read_video(tmp_path / "out.mkv", keep_lumas=False).pts == [1000 * k for k in range(12)]


def late_transport_stream(path: Path, offset_seconds: int = 3600) -> Path:
    """An MPEG-TS whose clock reads an hour at its first packet (a DVB recording, a camcorder's
    .m2ts): 25 frames at 25 fps and a second of MP2 audio, both from the same instant."""
    import numpy as np

    offset = offset_seconds * 90000
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "g": "5"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 90000)
        audio = out.add_stream("mp2", rate=48000)
        audio.layout = "stereo"
        for index in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 8, np.uint8), format="rgb24")
            frame.pts, frame.time_base = offset + 3600 * index, Fraction(1, 90000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for sample in range(0, 48000, 1152):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 2304), np.int16), format="s16", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, offset_seconds * 48000 + sample, Fraction(1, 48000)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


@pytest.mark.parametrize("segmented", [False, True])
def test_a_transport_stream_whose_clock_starts_late_is_written_from_0(tmp_path, segmented):
    """An hour on the TS clock became an hour of nothing in an MP4 (an empty edit) and a 1:00:02
    Matroska: FFmpeg's command line starts such an output at 0, every stream alike."""
    import vsr

    source = late_transport_stream(tmp_path / "late.ts")
    target = tmp_path / "late.mp4"
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=2), encode=vsr.EncodeOptions(preset="ultrafast"))
    if segmented:
        vsr.upscale_in_segments(source, target, options, segment_seconds=0.4)
    else:
        vsr.upscale_video(source, target, options=options)
    with av.open(str(target)) as container:
        assert container.duration / 1e6 < 1.2  # not an hour and a second
        video, audio = container.streams.video[0], container.streams.audio[0]
        first_video = min(p.pts for p in container.demux(video) if p.size) * video.time_base
        container.seek(0)
        first_audio = min(p.pts for p in container.demux(audio) if p.size) * audio.time_base
    assert first_video < 0.1 and abs(first_audio - first_video) < 0.05
