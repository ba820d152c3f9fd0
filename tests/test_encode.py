"""The encoder side (vsr.media.encode): pixel format choice, the stream's timing and colour,
encoder options, and rate control (CRF by default, a target bitrate when asked)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from vsr.errors import ConfigError
from vsr.media.encode import (
    check_preset,
    VideoFileWriter,
    _encoder_options,
    choose_pix_fmt,
    encoder_pix_fmts,
    frame_from_planes,
    frame_from_rgb,
    pixel_format_loss,
)
from vsr.media.frames import Layout, VideoItem
from vsr.media.mux import container_format
from vsr.media.probe import probe
from vsr.options import EncodeOptions
from videoclips import draw_frame, raw_planes, read_index, read_video

MS = Fraction(1, 1000)
FAST = EncodeOptions(preset="ultrafast")
VP9 = {"row-mt": "1", "deadline": "good", "cpu-used": "4"}
"""What vsr always asks of libvpx-vp9: row threading, the "good" deadline at speed 4."""
X265 = {"x265-params": "log-level=error"}


def encode_drawn(path, info, codec: str, options: EncodeOptions, frames: int, width: int, height: int) -> None:
    """`frames` frames of the test pattern, 25 per second, through VideoFileWriter."""
    layout = Layout("yuv420p")
    with VideoFileWriter(path, container_format(path), info, codec, options, layout, width, height) as writer:
        for index in range(frames):
            writer.write(frame_from_rgb(draw_frame(index, width, height), 40 * index, MS))


def video_bits_per_second(path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        seconds = float((packets[-1].pts + packets[-1].duration - packets[0].pts) * stream.time_base)
        return 8 * sum(p.size for p in packets) / seconds


def x264_settings(path) -> list[str]:
    """The settings x264 writes into its stream (an SEI message): 'rc=crf', 'crf=18.0', ..."""
    data = path.read_bytes()
    start = data.index(b"x264 - core")
    return data[start : data.index(b"\x00", start)].decode("ascii", "replace").split()


@pytest.fixture
def ms_info(make_clip):
    """A probed input with a 1/1000 time base at 25 frames per second, as Matroska gives."""
    return probe(make_clip("in.mkv", frames=2, codec="ffv1"))


# --- pixel format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec,input_pix_fmt,chosen",
    [
        ("libx264", "yuv420p", "yuv420p"),
        ("libx264", "yuv444p", "yuv444p"),
        ("libx264", "yuvj420p", "yuvj420p"),  # the pipeline works in it, x264 takes it
        ("libvpx-vp9", "yuvj420p", "yuv420p"),  # VP9 takes no yuvj: the same planes as yuv
        ("libx264", "yuv420p10le", "yuv420p10le"),
        ("libx264", "rgb24", "yuv420p"),  # not a pipeline format: 4:2:0 at the input's depth
        ("libx264", "gbrp10le", "yuv420p10le"),
        ("ffv1", "gray", "gray"),
        # the input's chroma kept where the encoder takes it at a depth vsr works in (it became 4:2:0)
        ("libx264", "yuv422p12le", "yuv422p10le"),
        ("libx265", "yuv444p12le", "yuv444p10le"),
        ("ffv1", "gray12le", "gray10le"),
        ("libsvtav1", "yuv444p10le", "yuv420p10le"),  # SVT-AV1 takes 4:2:0 only
        # ProRes takes 10-bit 4:2:2 and 4:4:4 only: the smallest that loses nothing ("takes none" before)
        ("prores_ks", "yuv420p", "yuv422p10le"),
        ("prores_ks", "yuv444p", "yuv444p10le"),
        ("prores_ks", "yuva444p10le", "yuv444p10le"),  # the alpha goes whatever the format: not the chroma too
        ("rawvideo", "yuv420p", "yuv420p"),  # it lists no format: it takes any
    ],
)
def test_the_input_pixel_format_is_kept_where_possible(codec, input_pix_fmt, chosen):
    assert choose_pix_fmt(codec, input_pix_fmt, None) == chosen


def test_chroma_an_encoder_subsamples_is_said():
    """4:4:4 into SVT-AV1 came out 4:2:0 without a word (only alpha and depth were said)."""
    assert pixel_format_loss("yuv444p", "yuv420p") == "its 4:4:4 chroma is subsampled to 4:2:0"
    assert pixel_format_loss("yuv422p12le", "yuv420p10le") == (
        "its 12-bit samples become 10-bit; its 4:2:2 chroma is subsampled to 4:2:0")
    assert pixel_format_loss("yuv411p", "yuv420p") == "its 4:1:1 chroma is subsampled to 4:2:0"  # finer vertically
    assert pixel_format_loss("rgb24", "yuv420p") is None and pixel_format_loss("yuv420p", "yuv444p") is None


def test_a_requested_pixel_format_wins_and_a_bad_one_lists_the_usable_ones():
    assert choose_pix_fmt("libx264", "yuv420p", "yuv444p") == "yuv444p"
    with pytest.raises(ConfigError, match="'rgb24' is not available with libx264; use one of .*yuv420p"):
        choose_pix_fmt("libx264", "yuv420p", "rgb24")
    with pytest.raises(ConfigError, match="not available with libvpx-vp9"):
        choose_pix_fmt("libvpx-vp9", "yuv420p", "yuv422p12le")
    # a limited-range source's samples tagged full range: black shown at 16, the picture washed out
    for codec in ("libx264", "libvpx-vp9"):
        with pytest.raises(ConfigError, match="'yuvj420p' is FFmpeg's old name for full-range yuv420p.*: use yuv420p"):
            choose_pix_fmt(codec, "yuv420p", "yuvj420p")


def test_an_audio_encoder_given_as_the_video_codec_is_said_to_be_one():
    with pytest.raises(ConfigError, match="^'aac' is an audio encoder, not a video one"):
        choose_pix_fmt("aac", "yuv420p", None)


def test_an_unknown_encoder_is_named_with_suggestions():
    with pytest.raises(ConfigError, match="unknown video encoder 'libnope'.*libx264"):
        encoder_pix_fmts("libnope")


# --- frames -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le", "gray"])
def test_frame_from_planes_holds_the_planes_and_the_source_timestamp(pix_fmt):
    layout = Layout(pix_fmt)
    rng = np.random.default_rng(0)
    planes = [rng.integers(0, layout.max_value + 1, (h, w)).astype(layout.dtype) for w, h in layout.plane_sizes(34, 22)]
    frame = frame_from_planes(planes, VideoItem(3, pts=120, duration=40, planes=[]), layout, MS)
    assert (frame.width, frame.height, frame.format.name) == (34, 22, pix_fmt)
    assert (frame.pts, frame.duration, frame.time_base) == (120, 40, MS)
    for plane, array in zip(frame.planes, planes):
        rows = np.frombuffer(plane, layout.dtype).reshape(-1, plane.line_size // np.dtype(layout.dtype).itemsize)
        assert np.array_equal(rows[: array.shape[0], : array.shape[1]], array)


def test_video_file_writer_writes_every_frame_at_its_timestamp(ms_info, tmp_path):
    path = tmp_path / "out.mkv"
    encode_drawn(path, ms_info, "libx264", FAST, 6, 64, 48)
    facts = read_video(path)
    assert facts.pts == [40 * i for i in range(6)]
    assert [read_index(y) for y in facts.lumas] == list(range(6))


# --- the stream's metadata ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix,options",
    [
        (".mp4", {"colour": (1, 1, 1, 1), "sar": Fraction(4, 3), "rotation": 90}),
        (".mkv", {"colour": (5, 6, 5, 2), "sar": Fraction(16, 11)}),
        (".mkv", {"colour": (9, 16, 9, 1), "pix_fmt": "yuv420p10le"}),
    ],
)
def test_the_stream_takes_the_inputs_colour_aspect_rotation_and_rate(make_clip, tmp_path, suffix, options):
    source = make_clip("in" + suffix, frames=3, **options)
    info = probe(source)
    layout = Layout(choose_pix_fmt("libx264", info.pix_fmt, None))
    path = tmp_path / ("out" + suffix)
    doubled = [np.kron(plane, np.ones((2, 2), plane.dtype)) for plane in raw_planes(source)[0]]
    with VideoFileWriter(path, container_format(path), info, "libx264", FAST, layout, 128, 96) as writer:
        writer.write(frame_from_planes(doubled, VideoItem(0, pts=0, duration=1, planes=[]), layout, info.time_base))
    before, after = read_video(source), read_video(path)
    assert after.colour == before.colour == options["colour"]
    assert after.sar == before.sar
    assert after.rotation == before.rotation
    assert after.pix_fmt == layout.pix_fmt
    assert (after.width, after.height) == (128, 96)


def test_full_range_yuvj_is_marked_full_range(make_clip, tmp_path):
    source = make_clip("in.mkv", frames=2, codec="mjpeg", pix_fmt="yuvj420p")
    info = probe(source)
    layout = Layout(choose_pix_fmt("libx264", info.pix_fmt, None))
    path = tmp_path / "out.mkv"
    with VideoFileWriter(path, "matroska", info, "libx264", FAST, layout, 64, 48) as writer:
        writer.write(frame_from_rgb(draw_frame(0, 64, 48), 0, info.time_base))
    assert read_video(path).colour[3] == 2


# --- encoder options and rate control -----------------------------------------------------------


@pytest.mark.parametrize(
    "codec,options,expected",
    [
        ("libx264", EncodeOptions(), {"crf": "18", "preset": "medium"}),
        ("libx264", EncodeOptions(crf=None, preset=None), {}),
        ("libx265", EncodeOptions(crf=20, preset="fast"), {"crf": "20", "preset": "fast", **X265}),
        ("libvpx-vp9", EncodeOptions(crf=31), {"crf": "31", "b": "0", **VP9}),
        ("libvpx-vp9", EncodeOptions(crf=31, preset="veryslow"), {"crf": "31", "b": "0", **VP9, "cpu-used": "1"}),
        ("libvpx-vp9", EncodeOptions(crf=31, preset="7"), {"crf": "31", "b": "0", **VP9, "cpu-used": "7"}),
        ("libsvtav1", EncodeOptions(crf=30, preset="8"), {"crf": "30", "preset": "8"}),
        ("libsvtav1", EncodeOptions(crf=30, preset="medium"), {"crf": "30", "preset": "10"}),  # its own default
        ("libsvtav1", EncodeOptions(crf=30, preset="ultrafast"), {"crf": "30", "preset": "13"}),  # was ignored (10)
        ("ffv1", EncodeOptions(), {}),
        # a bitrate replaces the CRF
        ("libx264", EncodeOptions(bitrate=500_000), {"preset": "medium"}),
        ("libvpx-vp9", EncodeOptions(bitrate=500_000), VP9),
        ("libsvtav1", EncodeOptions(bitrate=500_000, preset="8"), {"preset": "8"}),
    ],
)
def test_encoder_options(codec, options, expected):
    assert _encoder_options(codec, options) == expected


@pytest.mark.parametrize("codec", ["libx264", "libx265", "libvpx-vp9", "libsvtav1"])
@pytest.mark.parametrize("preset", ["bogus", "9000", "-1", ""])
def test_a_preset_no_codec_understands_is_refused_for_every_codec(codec, preset):
    with pytest.raises(ConfigError, match=f"{codec}.*preset.*{preset!r}"):
        check_preset(codec, preset)


@pytest.mark.parametrize("codec,preset", [("libvpx-vp9", "8"), ("libvpx-vp9", "Medium"), ("libsvtav1", "13"), ("libsvtav1", "slow")])
def test_every_codec_takes_the_x264_names_and_its_own_numbers(codec, preset):
    check_preset(codec, preset)


def test_crf_is_the_default_rate_control(ms_info, tmp_path):
    assert EncodeOptions().bitrate is None and EncodeOptions().crf == 18
    path = tmp_path / "crf.mp4"
    encode_drawn(path, ms_info, "libx264", FAST, 5, 64, 48)
    settings = x264_settings(path)
    assert "rc=crf" in settings and "crf=18.0" in settings


def test_x264_runs_frame_threads_as_the_ffmpeg_command_does(ms_info, tmp_path):
    path = tmp_path / "threads.mp4"
    encode_drawn(path, ms_info, "libx264", FAST, 3, 640, 480)  # big enough for x264 to thread at all
    assert "sliced_threads=0" in x264_settings(path)  # PyAV's default (slice threads) gives 1


def test_a_bitrate_switches_x264_to_average_bitrate_without_crf(ms_info, tmp_path):
    path = tmp_path / "abr.mp4"
    encode_drawn(path, ms_info, "libx264", EncodeOptions(crf=30, preset="ultrafast", bitrate=100_000), 5, 64, 48)
    settings = x264_settings(path)
    assert "rc=abr" in settings and "bitrate=100" in settings
    assert not [s for s in settings if s.startswith("crf=")]


@pytest.mark.parametrize("codec,suffix", [("libx264", ".mp4"), ("libx265", ".mp4"), ("libvpx-vp9", ".webm")])
def test_a_bitrate_encode_lands_near_the_target(ms_info, tmp_path, codec, suffix):
    """Two seconds of 160x120 at 100 kbit/s; CRF 18 would take several times that."""
    target = 100_000
    path = tmp_path / ("rate" + suffix)
    encode_drawn(path, ms_info, codec, EncodeOptions(preset="ultrafast", bitrate=target), 50, 160, 120)
    assert video_bits_per_second(path) == pytest.approx(target, rel=0.35)
    crf = tmp_path / ("crf" + suffix)
    encode_drawn(crf, ms_info, codec, FAST, 50, 160, 120)
    assert video_bits_per_second(crf) > 1.5 * target  # so the target above is what made it small


def test_svt_av1_keeps_its_banner_to_itself(ms_info, tmp_path, capfd):
    encode_drawn(tmp_path / "av1.mp4", ms_info, "libsvtav1", EncodeOptions(crf=40, preset="12"), 3, 64, 48)
    assert len(read_video(tmp_path / "av1.mp4").pts) == 3  # it did encode
    assert "Svt[info]" not in capfd.readouterr().err


@pytest.mark.parametrize("bitrate", [0, -8000])
def test_a_bitrate_must_be_positive(ms_info, tmp_path, bitrate):
    with pytest.raises(ConfigError, match="bitrate must be a positive number of bits per second"):
        encode_drawn(tmp_path / "x.mp4", ms_info, "libx264", EncodeOptions(bitrate=bitrate), 1, 64, 48)


def test_importing_vsr_leaves_the_environment_alone():
    """SVT_LOG was set in os.environ at import, inherited by a host program's subprocesses."""
    import subprocess
    import sys

    code = "import os; os.environ.pop('SVT_LOG', None); import vsr.media.encode, vsr.pipeline.run; print(os.environ.get('SVT_LOG'))"
    env = {k: v for k, v in __import__("os").environ.items() if k != "SVT_LOG"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "None"


@pytest.mark.parametrize("suffix, segments", [(".mp4", False), (".mov", False), (".mp4", True)])
def test_hevc_in_mp4_and_mov_is_tagged_hvc1_for_apples_players(make_clip, tmp_path, suffix, segments):
    """FFmpeg's default tag, hev1, is one Apple's players (QuickTime, Safari, iOS) do not play."""
    import vsr

    source, target = make_clip("in.mp4", frames=3), tmp_path / f"out{suffix}"
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=2),
                                 encode=EncodeOptions(codec="libx265", preset="ultrafast"))
    if segments:  # the join copies the segments' packets into a stream of its own
        out = vsr.upscale_in_segments(source, target, options, segment_seconds=1).output
    else:
        out = vsr.upscale_video(source, target, options=options).output
    with av.open(str(out)) as written:
        assert written.streams.video[0].codec_context.codec_tag == "hvc1"
        assert written.streams.video[0].frames == 3
