"""upscale_video end to end on tiny synthetic clips: what the output must preserve.

Each property of the issue "What the output must preserve" has a test here: frame count,
timestamps, time base, frame rate, duration, audio (copied packet for packet, or transcoded
where the container cannot hold it), dimensions, colour metadata, aspect ratio, rotation, frame
order (the index drawn into each frame) and content, output naming and container choice.

The input is always compared with the input *as read back*: containers rescale timestamps
(mp4 writes 1/1000 as a 1/10000+ timescale), so the values a fixture wrote are not the truth.
"""

from __future__ import annotations

import logging
import struct
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

import vsr
from conftest import REAL_CLIP
from videoclips import (
    audio_durations,
    audio_packets,
    container_brand,
    draw_frame,
    listing,
    psnr,
    raw_planes,
    read_index,
    remux,
    read_video,
)

FAST = {"model": "bicubic", "preset": "ultrafast"}


def upscale(source, output=None, *, scale=2, **options):
    return vsr.upscale_video(source, output, scale=scale, **{**FAST, **options})


def indices(facts, width, height):
    return [read_index(y, width, height) for y in facts.lumas]


def frame_seconds(facts) -> float:
    """The longest gap between timestamps, in seconds: 'one frame' for duration checks."""
    gaps = np.diff(facts.pts) if len(facts.pts) > 1 else [1]
    return float(max(gaps) * facts.time_base)


SAME_CONTAINER = {
    "cfr-mp4-aac": ("in.mp4", {"audio": ("aac",)}),
    "cfr-mkv-mp3": ("in.mkv", {"audio": ("mp3",)}),
    "ntsc-mov-aac": ("in.mov", {"rate": Fraction(30000, 1001), "audio": ("aac",)}),
    "cfr-webm-opus": ("in.webm", {"codec": "libvpx-vp9", "audio": ("opus",), "frames": 8}),
    "vfr-mkv-opus": ("in.mkv", {"time_base": Fraction(1, 1000), "durations": [40, 80, 120], "frames": 15, "audio": ("opus",)}),
    "vfr-mp4-aac": ("in.mp4", {"time_base": Fraction(1, 90000), "durations": [3000, 6000, 9000], "frames": 15, "audio": ("aac",)}),
}


@pytest.mark.parametrize("case", list(SAME_CONTAINER))
def test_same_container_keeps_frames_timestamps_rate_duration_and_audio(make_clip, case):
    name, options = SAME_CONTAINER[case]
    source = make_clip(name, **options)
    result = upscale(source)
    before, after = read_video(source), read_video(result.output)

    assert result.frames == len(before.pts) == len(after.pts)
    assert after.pts == before.pts  # identical presentation timestamps: VFR stays VFR
    assert after.time_base == before.time_base
    assert container_brand(result.output) == container_brand(source)
    if case == "vfr-mp4-aac":
        # mp4 derives the average rate from the duration, whose last frame lasts 1/framerate as
        # the encoder sets it: equal to within that one frame, not exactly.
        assert after.average_rate == pytest.approx(before.average_rate, rel=0.05)
    else:
        assert after.average_rate == before.average_rate
    assert abs(after.duration_seconds - before.duration_seconds) <= frame_seconds(before) + 1e-6
    assert (after.width, after.height) == (2 * before.width, 2 * before.height)
    assert indices(after, before.width, before.height) == indices(before, before.width, before.height)
    assert indices(before, before.width, before.height) == list(range(len(before.pts)))
    copied = audio_packets(result.output)
    assert copied == audio_packets(source)
    assert len(copied) == 1 and len(copied[0]) > 10


def test_vfr_timestamps_survive_a_change_of_container(make_clip):
    source = make_clip("vfr.mp4", time_base=Fraction(1, 90000), durations=[3000, 6000, 9000], frames=15, audio=("aac",))
    result = upscale(source, source.with_name("vfr.mkv"))
    before, after = read_video(source), read_video(result.output)
    assert after.time_base == Fraction(1, 1000)  # Matroska's only time base
    assert len(after.pts) == len(before.pts)
    start_in, start_out = before.pts[0], after.pts[0]
    for pts_in, pts_out in zip(before.pts, after.pts):
        # the whole file may be shifted (AAC priming), but the gaps stay the same, to the millisecond
        assert abs(float((pts_out - start_out) * after.time_base) - float((pts_in - start_in) * before.time_base)) <= 0.0005
    assert audio_packets(result.output) == audio_packets(source)


def test_a_variable_rate_mp4_keeps_its_last_frame_s_duration(make_clip):
    source = make_clip("vfr.mp4", time_base=Fraction(1, 90000), durations=[3000, 6000, 9000], frames=14)
    result = upscale(source, source.with_name("out.mp4"))

    def last_frame(path):
        with av.open(str(path)) as container:
            frame = list(container.decode(video=0))[-1]
            return frame.pts, frame.duration

    assert last_frame(result.output) == last_frame(source)  # not the mean duration (5571 here)


@pytest.mark.parametrize(
    "name,audio,out_suffix",
    [
        ("in.mp4", ("aac",), ".mkv"),
        ("in.mp4", ("aac",), ".mov"),
        ("in.mkv", ("mp3",), ".mp4"),
        ("in.mkv", ("opus",), ".webm"),
    ],
)
def test_audio_is_copied_packet_for_packet_into_another_container(make_clip, name, audio, out_suffix):
    source = make_clip(name, audio=audio)
    result = upscale(source, source.with_name("out" + out_suffix))
    assert read_video(result.output).audio_codecs == read_video(source).audio_codecs
    assert audio_packets(result.output) == audio_packets(source)


@pytest.mark.parametrize("codec", ["libx264", "rawvideo"])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_audio_is_complete_whatever_the_batch_size(make_clip, tmp_path, batch_size, codec):
    """Audio packets that arrive while frames are batched (or after the last batch) are held and
    written after those frames; none may be lost at the end of the stream. (Raw video has no
    decoder delay, so audio packets do arrive after the last frame.)"""
    source = make_clip("in.mkv", frames=10, audio=("opus", "aac"), codec=codec)
    result = upscale(source, tmp_path / f"b{batch_size}.mkv", batch_size=batch_size)
    assert audio_packets(result.output) == audio_packets(source)
    assert indices(read_video(result.output), 64, 48) == list(range(10))


def test_two_audio_tracks_are_both_kept_in_order(make_clip):
    source = make_clip("two.mkv", audio=("aac", "opus"))
    result = upscale(source)
    assert read_video(result.output).audio_codecs == read_video(source).audio_codecs == ["aac", "opus"]
    copied = audio_packets(result.output)
    assert copied == audio_packets(source)
    assert all(len(track) > 10 for track in copied)


def test_audio_that_mov_lists_but_will_not_write_is_transcoded_to_aac(make_clip):
    source = make_clip("in.mkv", audio=("opus", "aac"))  # FFmpeg lists Opus for MOV; its muxer refuses it
    result = upscale(source, source.with_name("out.mov"))
    assert read_video(result.output).audio_codecs == ["aac", "aac"]
    assert audio_packets(result.output)[1] == audio_packets(source)[1]  # the AAC is still copied


@pytest.mark.parametrize("name,audio", [("in.mp4", ("aac",)), ("in.mkv", ("mp3", "aac"))])
def test_audio_webm_cannot_hold_is_transcoded_to_opus_with_a_warning(make_clip, caplog, name, audio):
    source = make_clip(name, audio=audio)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = upscale(source, source.with_name("out.webm"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "re-encoding" in r.getMessage()]
    assert len(warnings) == len(audio)
    assert all("webm" in w and "opus" in w for w in warnings)
    after = read_video(result.output)
    assert after.codec == "vp9" and after.audio_codecs == ["opus"] * len(audio)
    for seconds_in, seconds_out in zip(audio_durations(source), audio_durations(result.output)):
        assert seconds_out == pytest.approx(seconds_in, abs=0.05)
    assert indices(after, 64, 48) == list(range(len(after.pts)))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_dimensions_are_exactly_scale_times_the_input(make_clip, scale):
    source = make_clip("in.mp4", width=64, height=48, frames=4)
    result = upscale(source, scale=scale)
    after = read_video(result.output)
    assert (result.width, result.height) == (after.width, after.height) == (64 * scale, 48 * scale)
    assert indices(after, 64, 48) == [0, 1, 2, 3]


def test_odd_input_size_at_an_even_product_is_exact_and_silent(make_clip, caplog):
    source = make_clip("odd.mkv", width=67, height=45, codec="ffv1")  # FFV1 takes odd 4:2:0 sizes
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = upscale(source, scale=2)
    assert (result.width, result.height) == (134, 90)
    assert not [r for r in caplog.records if "even dimensions" in r.getMessage()]
    after = read_video(result.output)
    assert (after.width, after.height) == (134, 90)
    assert indices(after, 67, 45) == list(range(12))


def test_odd_product_in_yuv420p_is_padded_by_one_with_a_warning(make_clip, caplog):
    source = make_clip("odd.mkv", width=67, height=45, codec="ffv1")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = upscale(source, scale=3, codec="ffv1")  # lossless output: the padding can be checked exactly
    assert (result.width, result.height) == (202, 136)  # 201x135 + 1 each way
    assert any("even dimensions" in r.getMessage() and "202x136" in r.getMessage() for r in caplog.records)
    inputs, outputs = raw_planes(source), raw_planes(result.output)
    assert len(outputs) == len(inputs) == 12
    for (y_in, *_), (y_out, *_) in zip(inputs, outputs):
        assert y_out.shape == (136, 202)
        assert np.array_equal(y_out[:135, :201], cv2.resize(y_in, (201, 135), interpolation=cv2.INTER_CUBIC))
        assert np.array_equal(y_out[:, 201], y_out[:, 200])  # the last column repeated
        assert np.array_equal(y_out[135, :], y_out[134, :])  # the last row repeated


def test_odd_size_in_yuv444p_needs_no_padding(make_clip, caplog):
    source = make_clip("odd444.mkv", width=67, height=45, pix_fmt="yuv444p")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = upscale(source, scale=3)
    after = read_video(result.output)
    assert (after.width, after.height, after.pix_fmt) == (201, 135, "yuv444p")
    assert not [r for r in caplog.records if "even dimensions" in r.getMessage()]
    assert indices(after, 67, 45) == list(range(12))


def test_every_plane_is_exactly_the_bicubic_upscale_of_the_input(make_clip):
    """With the bicubic model and a lossless encoder nothing else may touch the samples (no RGB
    round trip, no off-by-one in strides): each plane is OpenCV's bicubic of the decoded input."""
    source = make_clip("in.mp4", width=66, height=46, frames=6)
    result = upscale(source, source.with_name("out.mkv"), codec="ffv1")
    inputs, outputs = raw_planes(source), raw_planes(result.output)
    assert len(inputs) == len(outputs) == 6
    for planes_in, planes_out in zip(inputs, outputs):
        for plane_in, plane_out in zip(planes_in, planes_out):
            h, w = plane_in.shape
            assert np.array_equal(plane_out, cv2.resize(plane_in, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC))


def test_frames_stay_in_order_and_look_like_the_input(make_clip):
    source = make_clip("in.mp4", width=96, height=72, frames=30)
    result = upscale(source, crf=18)
    before, after = read_video(source), read_video(result.output)
    assert indices(after, 96, 72) == list(range(30))  # no drop, no duplicate, no reordering
    for y_in, y_out in zip(before.lumas, after.lumas):
        down = cv2.resize(y_out, (96, 72), interpolation=cv2.INTER_AREA)
        assert psnr(down, y_in) > 32


COLOUR_CASES = {
    # (primaries, transfer, matrix, range) as FFmpeg enums
    "mp4-bt709-limited-sar-rot90": ("in.mp4", {"colour": (1, 1, 1, 1), "sar": Fraction(4, 3), "rotation": 90}),
    "mkv-bt601-full-sar": ("in.mkv", {"colour": (5, 6, 5, 2), "sar": Fraction(16, 11), "rotation": 90}),
    "mov-smpte170m-rot270": ("in.mov", {"colour": (6, 6, 6, 1), "rotation": 270}),
    "mkv-10bit-bt2020-pq": ("in.mkv", {"colour": (9, 16, 9, 1), "pix_fmt": "yuv420p10le"}),
}


@pytest.mark.parametrize("case", list(COLOUR_CASES))
def test_colour_metadata_aspect_ratio_rotation_and_depth_are_kept(make_clip, case):
    name, options = COLOUR_CASES[case]
    source = make_clip(name, frames=6, **options)
    before = read_video(source)
    # the fixture did write what it was asked to (else the test below would prove nothing)
    assert before.colour == options["colour"]
    assert before.rotation % 360 == options.get("rotation", 0)
    assert before.sar == options.get("sar", before.sar)

    result = upscale(source)
    after = read_video(result.output)
    assert after.colour == before.colour
    assert after.sar == before.sar
    assert after.rotation == before.rotation
    assert after.pix_fmt == before.pix_fmt
    assert indices(after, 64, 48) == list(range(6))


def display_matrix(path) -> tuple[int, ...]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        (side,) = [s for s in frame.side_data if s.type == av.sidedata.sidedata.Type.DISPLAYMATRIX]
        return struct.unpack("<9i", bytes(side))


@pytest.mark.parametrize("name", ["in.mp4", "in.mkv"])
@pytest.mark.parametrize("rotation", [0, 90])
def test_a_mirroring_display_matrix_is_kept_as_it_is(make_clip, name, rotation):
    """A rotation angle cannot say "mirrored": rebuilt from the angle alone, a mirror became a half turn."""
    source = make_clip(name, frames=3, rotation=rotation, mirrored=True)
    before = display_matrix(source)
    assert before[0] * before[4] - before[1] * before[3] < 0  # the fixture mirrors: a negative determinant
    assert display_matrix(upscale(source).output) == before


def test_a_display_matrix_offset_in_input_pixels_is_not_carried_to_the_bigger_output(make_clip, tmp_path):
    """QuickTime-style matrices may hold a translation in pixels; FFmpeg writes none, and the
    input's would be wrong at the output's size."""
    source = make_clip("in.mp4", frames=3, rotation=90)
    shifted = tmp_path / "shifted.mp4"
    matrix = list(display_matrix(source))
    matrix[6] = 48 << 16  # an x offset of the input's height, as QuickTime writes for a quarter turn
    with av.open(str(source)) as src, av.open(str(shifted), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        stream.set_display_matrix(matrix)
        for packet in src.demux(video=0):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    assert display_matrix(shifted)[6] == 48 << 16
    after = display_matrix(upscale(shifted).output)
    assert after[:6] == tuple(matrix[:6]) and after[6:8] == (0, 0)


def test_default_output_is_stem_x_scale_beside_the_input(make_clip, tmp_path):
    source = make_clip("my clip.v2.mkv", frames=3)
    result = upscale(source, scale=3)
    assert result.output == tmp_path / "my clip.v2_x3.mkv"
    assert result.output.is_file()
    assert container_brand(result.output) == "matroska"
    assert listing(tmp_path) == ["my clip.v2.mkv", "my clip.v2_x3.mkv"]


@pytest.mark.parametrize(
    "suffix,brand,video,audio",
    [(".mp4", "mp4", "h264", "aac"), (".mkv", "matroska", "h264", "aac"), (".mov", "mov", "h264", "aac"), (".webm", "webm", "vp9", "opus")],
)
def test_container_follows_the_extension(make_clip, suffix, brand, video, audio):
    source = make_clip("in.mp4", frames=4, audio=("aac",))
    result = upscale(source, source.with_name("out" + suffix))
    after = read_video(result.output)
    assert container_brand(result.output) == brand
    assert (after.codec, after.audio_codecs) == (video, [audio])
    assert len(after.pts) == 4


def test_max_frames_stops_after_n_frames_and_so_does_the_audio(make_clip):
    source = make_clip("in.mp4", frames=20, audio=("aac",))
    calls = []
    result = upscale(source, max_frames=5, progress=lambda done, total: calls.append((done, total)))
    before, after = read_video(source), read_video(result.output)
    assert result.frames == 5
    assert after.pts == before.pts[:5]
    assert indices(after, 64, 48) == [0, 1, 2, 3, 4]
    assert calls[-1] == (5, 5)
    assert audio_durations(result.output)[0] < audio_durations(source)[0] - 0.3  # 20 frames = 0.8 s, 5 = 0.2 s


def test_max_frames_past_the_videos_end_cuts_the_audio_as_at_its_last_frame(tmp_path):
    """Audio that outlasts the video: --max-frames 30 of 30 frames kept 1.2 s of it, --max-frames 31
    all 4 s (the cut was made only where frame N was reached)."""
    source = tmp_path / "short_video.mkv"
    with av.open(str(source), "w") as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=48000)
        audio.layout = "mono"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 64, 48), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for i in range(8):  # 2 s of audio for 0.4 s of video
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 12000), np.int16), format="s16", layout="mono")
            samples.sample_rate, samples.pts = 48000, 12000 * i
            out.mux(audio.encode(samples))
        out.mux(audio.encode(None))
    lengths = [audio_durations(upscale(source, tmp_path / f"p{n}.mkv", max_frames=n).output)[0] for n in (10, 11)]
    assert lengths[0] == pytest.approx(lengths[1], abs=0.01) and lengths[0] <= 0.5  # packets of 0.25 s


def test_max_frames_keeps_the_audio_that_a_file_stores_after_the_video(make_clip, tmp_path):
    source = remux(make_clip("in.mp4", frames=20, audio=("aac",)), tmp_path / "late.mp4", "mp4", video_first=True,
                   max_interleave_delta="1")
    result = upscale(source, max_frames=5)
    assert read_video(result.output).pts == read_video(source).pts[:5]
    assert 0.15 < audio_durations(result.output)[0] < 0.3  # 5 frames = 0.2 s (AAC packets of 21 ms)


@pytest.mark.parametrize("filters", [{"deinterlace": "bwdif", "deinterlace_rate": "field"}, {"deinterlace": "w3fdif"}])
def test_max_frames_after_a_filter_that_holds_frames_stops_the_audio_there_too(make_clip, filters):
    """The audio read while a deinterlacer held frames went out first, past the last frame."""
    source = make_clip("in.mp4", frames=30, audio=("aac",))
    result = upscale(source, max_frames=10, **filters)
    with av.open(str(result.output)) as container:
        video_end = max((p.pts + p.duration) * p.time_base for p in container.demux(video=0) if p.size)
    with av.open(str(result.output)) as container:
        audio = [p for p in container.demux(audio=0) if p.size]
        audio_start = min(p.pts * p.time_base for p in audio)
        audio_last_start = max(p.pts * p.time_base for p in audio)
    assert audio_last_start < video_end <= audio_last_start + Fraction(1024, 48000) + Fraction(1, 1000)
    assert audio_start < Fraction(1, 10)


def test_progress_receives_increasing_counts_ending_at_the_total(make_clip):
    source = make_clip("in.mp4", frames=30)
    calls = []
    upscale(source, progress=lambda done, total: calls.append((done, total)))
    counts = [done for done, _ in calls]
    assert counts == sorted(counts)
    assert calls[-1] == (30, 30)
    assert {total for _, total in calls} == {30}


def test_result_reports_the_run(make_clip):
    source = make_clip("in.mp4", frames=3)
    result = upscale(source)
    assert (result.frames, result.model, result.device, result.width, result.height) == (3, "bicubic", "cpu", 128, 96)
    assert result.seconds > 0 and result.fps > 0


def test_overwrite_replaces_an_existing_output(make_clip):
    source = make_clip("in.mp4", frames=3)
    target = source.with_name("out.mp4")
    target.write_bytes(b"old")
    with pytest.raises(vsr.errors.OutputError, match="exists"):
        upscale(source, target)
    assert target.read_bytes() == b"old"
    upscale(source, target, overwrite=True)
    assert len(read_video(target).pts) == 3


def test_options_give_the_same_output_as_the_keywords(make_clip):
    source = make_clip("in.mp4", frames=4, audio=("aac",))
    by_keywords = upscale(source, source.with_name("keywords.mkv"), crf=30)
    options = vsr.UpscaleOptions(
        model=vsr.ModelOptions(name="bicubic", scale=2), encode=vsr.EncodeOptions(crf=30, preset="ultrafast")
    )
    by_options = vsr.upscale_video(source, source.with_name("options.mkv"), options=options)
    expected, got = raw_planes(by_keywords.output), raw_planes(by_options.output)
    assert len(got) == len(expected) == 4
    assert all(np.array_equal(a, b) for x, y in zip(got, expected) for a, b in zip(x, y))
    assert read_video(by_options.output).pts == read_video(by_keywords.output).pts


def test_a_keyword_that_contradicts_the_options_is_refused_before_any_work(make_clip, tmp_path):
    source = make_clip("in.mp4", frames=3)
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=2))
    with pytest.raises(vsr.errors.ConfigError, match="scale=3 conflicts with options.model.scale=2"):
        vsr.upscale_video(source, scale=3, options=options)
    with pytest.raises(vsr.errors.ConfigError, match="scale=4 conflicts with options.model.scale=2"):  # wrote x2
        vsr.upscale_video(source, scale=4, options=options)
    assert listing(tmp_path) == ["in.mp4"]


def test_option_values_of_the_wrong_kind_are_refused_or_taken_as_meant(make_clip, tmp_path):
    """overwrite="no" replaced the file; a numpy scale failed in the registry; a debug folder given
    as a string failed mid-run."""
    from vsr.errors import ConfigError

    source = make_clip("in.mp4", frames=2)
    (tmp_path / "out.mp4").write_bytes(b"an earlier result")
    with pytest.raises(ConfigError, match="overwrite must be True or False, got 'no'"):
        vsr.upscale_video(source, tmp_path / "out.mp4", options=vsr.UpscaleOptions(run=vsr.RunOptions(overwrite="no")))
    assert (tmp_path / "out.mp4").read_bytes() == b"an earlier result"
    for group, field in (("model", "ensemble"), ("filters", "deblock"), ("filters", "ivtc"), ("filters", "square_pixels")):
        with pytest.raises(ConfigError, match=f"{field} must be True or False, got 'no'"):
            vsr.UpscaleOptions().replace(**{group: {field: "no"}}).validate()
    numpy_yes = vsr.UpscaleOptions(model=vsr.ModelOptions(ensemble=np.True_), run=vsr.RunOptions(overwrite=np.False_))
    assert numpy_yes.validate().model.ensemble is True and numpy_yes.run.overwrite is False  # numpy's booleans are booleans
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=np.int64(2)),
                                 multi_frame=vsr.MultiFrameOptions(mode="multi", frames=np.int64(3), debug_dir=str(tmp_path / "maps")))
    result = vsr.upscale_video(source, tmp_path / "multi.mp4", options=options)
    assert result.width == 128 and (tmp_path / "maps").is_dir()


@pytest.mark.skipif(not REAL_CLIP.is_file(), reason="the shared sample clip ../shared/data/clips/realshort.mp4 is absent")
def test_a_real_clip_keeps_timing_and_audio(tmp_path):
    source = tmp_path / "real.mp4"
    source.write_bytes(REAL_CLIP.read_bytes())
    result = upscale(source)
    before, after = read_video(source), read_video(result.output)
    assert (after.width, after.height) == (2 * before.width, 2 * before.height)
    assert after.pts == before.pts
    assert after.time_base == before.time_base
    assert after.average_rate == before.average_rate
    assert abs(after.duration_seconds - before.duration_seconds) <= frame_seconds(before) + 1e-6
    assert audio_packets(result.output) == audio_packets(source)
    for y_in, y_out in zip(before.lumas, after.lumas):
        h, w = y_in.shape
        assert psnr(cv2.resize(y_out, (w, h), interpolation=cv2.INTER_AREA), y_in) > 30


def wrapped_ts(path, frames: int = 20, before_zero: int = 10, audio_lead: int = 0) -> None:
    """An MPEG-TS whose 33-bit clock wraps `before_zero` frames after its start (a broadcast
    recording): FFmpeg reads those frames before 0. With AAC audio from the same start, or
    `audio_lead` frames' time before it."""
    start = 2**33 - before_zero * 3600
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 90000)
        audio = out.add_stream("aac", rate=48000)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 64, 48), format="rgb24")
            frame.pts, frame.time_base = start + 3600 * i, Fraction(1, 90000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        tone = av.AudioFrame.from_ndarray(np.zeros((1, 48000 * (frames + audio_lead) // 25), np.float32), format="fltp",
                                          layout="mono")
        tone.sample_rate, tone.pts, tone.time_base = 48000, (start - 3600 * audio_lead) * 48000 // 90000, Fraction(1, 48000)
        out.mux(audio.encode(tone))
        out.mux(audio.encode(None))


def first_times(path) -> tuple[Fraction, Fraction, list[Fraction]]:
    """(first audio packet time, first video frame time, every video frame's time) in seconds."""
    with av.open(str(path)) as container:
        audio = min(p.pts * p.time_base for p in container.demux(audio=0) if p.pts is not None and p.size)
    with av.open(str(path)) as container:
        times = sorted(f.pts * f.time_base for f in container.decode(video=0))
    return audio, times[0], times


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_video_that_starts_before_zero_keeps_every_frame_moved_with_its_audio(tmp_path, caplog, suffix):
    """MP4 hid the frames before 0 behind its edit list (players showed 10 of 20), and Matroska
    wrote them without timestamps."""
    source = tmp_path / "wrapped.ts"
    wrapped_ts(source)
    audio_in, video_in, times_in = first_times(source)
    assert video_in == Fraction(-10, 25)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / f"out{suffix}", scale=2, model="bicubic")
    assert "the video starts at -0.400 s, before 0: every stream is moved 0.400 s later, in sync" in caplog.messages
    audio_out, video_out, times_out = first_times(result.output)
    assert video_out == 0 and len(times_out) == 20
    assert [t - video_out for t in times_out] == [t - video_in for t in times_in]
    assert abs((audio_out - video_out) - (audio_in - video_in)) < Fraction(1, 1000)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_audio_that_starts_before_a_wrapped_video_is_moved_to_zero_with_it(tmp_path, caplog, suffix):
    """Only the video's start was moved to 0: the 0.4 s of audio ahead of it stayed before 0, hidden
    by MP4's edit list (lost), at negative times in Matroska."""
    source = tmp_path / "wrapped.ts"
    wrapped_ts(source, audio_lead=10)
    audio_in, video_in, _ = first_times(source)
    assert audio_in < video_in < 0
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / f"out{suffix}", scale=2, model="bicubic")
    assert "the video starts at -0.400 s, before 0 (another stream at -0.821 s): every stream is moved 0.821 s later" in caplog.text
    audio_out, video_out, _ = first_times(result.output)
    assert audio_out == pytest.approx(0, abs=0.03)
    assert abs((audio_out - video_out) - (audio_in - video_in)) < Fraction(3, 100)
    with av.open(str(source)) as original, av.open(str(result.output)) as out:
        decoded = [sum(frame.samples for frame in container.decode(audio=0)) for container in (original, out)]
    assert decoded[1] >= decoded[0] - 1024


def test_segments_refuse_a_video_that_starts_before_zero(tmp_path):
    from vsr.errors import ConfigError
    from vsr.segments.run import upscale_in_segments

    source = tmp_path / "wrapped.ts"
    wrapped_ts(source)
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=2))
    with pytest.raises(ConfigError, match=r"^wrapped.ts's video starts before 0 s \(-0.400 s\), which segments cannot keep"):
        upscale_in_segments(source, tmp_path / "out.mkv", options, segment_seconds=0.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wrapped.ts"]


def test_frames_an_mp4_edit_list_cuts_are_not_reported_as_damage(tmp_path, caplog):
    """A cut made without re-encoding (`ffmpeg -ss ... -c copy`, a phone's trim) keeps the frames
    before the cut for reference and an edit list that hides them: they are not damage."""
    source = tmp_path / "trimmed.mp4"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(-2, 18):
            frame = av.VideoFrame.from_ndarray(draw_frame(i + 2, 64, 48), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    with av.open(str(source)) as container:
        assert sum(p.is_discard for p in container.demux(video=0) if p.size) == 2  # the fixture made the cut
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic")
    assert caplog.messages == []
    assert result.frames == 18 and read_video(result.output, keep_lumas=False).pts[0] >= 0


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_a_file_cut_short_is_upscaled_as_far_as_it_goes_with_a_warning(make_clip, tmp_path, caplog, suffix):
    whole = make_clip(f"whole{suffix}", frames=50, audio=("aac",), options={"g": "5"})
    cut = tmp_path / f"cut{suffix}"
    data = whole.read_bytes()
    if suffix == ".mp4":  # an MP4 needs its index (moov) to be read at all: moved to the front, as for streaming
        remux(whole, tmp_path / "fast.mp4", "mp4", movflags="faststart")
        data = (tmp_path / "fast.mp4").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="vsr"):
        assert vsr.upscale_video(whole, tmp_path / f"whole_x2{suffix}", **FAST, scale=2).frames == 50
    assert not [m for m in caplog.messages if "cut short" in m]
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(cut, tmp_path / f"cut_x2{suffix}", **FAST, scale=2)
    assert 0 < result.frames < 50
    assert any(m.startswith("the video ended at ") and m.endswith("but its header says 2.00 s: is the file cut short? "
                                                                   "(the output holds what was there)") for m in caplog.messages)


@pytest.mark.parametrize("pix_fmt, message", [
    ("yuva420p", "the input's yuva420p is written as yuv420p: its alpha channel (transparency) is dropped; vsr upscales video without it (stills keep theirs)"),
    ("yuv420p12le", "the input's yuv420p12le is written as yuv420p10le: its 12-bit samples become 10-bit"),
])
def test_what_the_output_pixel_format_loses_is_said(make_clip, caplog, pix_fmt, message):
    source = make_clip("in.mkv", frames=3, codec="ffv1", pix_fmt=pix_fmt)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = upscale(source)
    assert message in caplog.messages
    assert len(read_video(result.output, keep_lumas=False).pts) == 3


def test_a_video_that_starts_late_is_not_taken_for_one_cut_short(tmp_path, caplog):
    """Matroska's DURATION tag of a stream is when it ends, not how long it lasts."""
    source = tmp_path / "late.mkv"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 64, 48), format="rgb24")
            frame.pts, frame.time_base = 125 + i, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        assert upscale(source).frames == 20
    assert caplog.messages == []


def test_hdr_static_metadata_that_is_not_carried_is_said(make_clip, caplog):
    params = ("log-level=error:hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
              "L(10000000,1):max-cll=1000,400")
    source = make_clip("hdr.mkv", frames=3, codec="libx265", pix_fmt="yuv420p10le", colour=(9, 16, 9, 1),
                       options={"x265-params": params})
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = upscale(source)
    assert ("the input's HDR mastering display and content light level metadata is not carried over (its transfer "
            "and primaries are): HDR displays may tone-map the output differently") in caplog.messages
    assert read_video(result.output).colour == (9, 16, 9, 1)


def test_a_vf_chain_that_retimes_the_video_is_not_taken_for_a_file_cut_short(make_clip, tmp_path, caplog):
    source = make_clip("whole.mkv", frames=50)
    from vsr.options import FilterOptions, UpscaleOptions

    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "fast.mkv", **FAST,
                                   options=UpscaleOptions(filters=FilterOptions(video="setpts=PTS/2")))
    assert result.frames == 50
    assert not [m for m in caplog.messages if "cut short" in m]


def test_a_loaded_model_or_a_weight_file_brings_its_scale_to_upscale_video(make_clip, tmp_path):
    """upscale_video(source, model=load_model("espcn", 2)) failed: 'model espcn is for scale 2, not 4'."""
    from vsr.models import load_model, weights_path

    source = make_clip("in.mp4", frames=3)
    assert vsr.upscale_video(source, tmp_path / "a.mp4", model=load_model("espcn", 2), preset="ultrafast").width == 128
    assert vsr.upscale_video(source, tmp_path / "b.mp4", model=str(weights_path("espcn", 3)), preset="ultrafast").width == 192
    assert vsr.upscale_video(source, tmp_path / "c.mp4", model="bicubic", preset="ultrafast").width == 256  # 4 by default


def test_a_file_cut_short_is_still_said_with_a_vf_chain_that_keeps_the_timing(make_clip, tmp_path, caplog):
    from vsr.options import FilterOptions, UpscaleOptions

    whole = make_clip("whole.mkv", frames=50, options={"g": "5"})
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(cut, tmp_path / "out.mkv", **FAST, options=UpscaleOptions(filters=FilterOptions(video="hflip")))
    assert any("is the file cut short?" in m for m in caplog.messages)


def test_frames_a_vf_chain_gives_one_timestamp_are_not_called_damage(make_clip, tmp_path, caplog):
    """setpts=PTS/2 in AVI's 1/25 time base gives two frames one timestamp: 'damaged input: 12 frame(s)
    were dropped', though the file was whole."""
    from vsr.options import FilterOptions, UpscaleOptions

    source = make_clip("coarse.avi", frames=24, codec="mpeg4")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(source, tmp_path / "out.mkv", **FAST, options=UpscaleOptions(filters=FilterOptions(video="setpts=PTS/2")))
    assert any("left the --vf chain with the timestamp of the frame before and were dropped" in m for m in caplog.messages)
    assert not any(m.startswith("damaged input") for m in caplog.messages)


def test_a_vf_chain_that_raises_the_rate_gets_a_time_base_that_holds_its_frames(make_clip, tmp_path, caplog):
    """fps=50 on an AVI (1/25): every second frame had its predecessor's timestamp and was dropped,
    and the output said 50 fps with frames 40 ms apart."""
    from vsr.options import FilterOptions, UpscaleOptions

    source = make_clip("coarse.avi", frames=24, codec="mpeg4")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mkv", **FAST, options=UpscaleOptions(filters=FilterOptions(video="fps=50")))
    assert result.frames == 48 and not caplog.records
    facts = read_video(result.output, keep_lumas=False)
    assert facts.average_rate == 50
    assert [pts * facts.time_base for pts in facts.pts] == [Fraction(k, 50) for k in range(48)]


def test_an_output_folder_for_one_video_or_still_takes_the_output_under_its_default_name(make_clip, tmp_path):
    """-o outdir for one video: "cannot tell the output container from 'outdir'", nothing written."""
    import cv2

    (tmp_path / "outdir").mkdir()
    video = vsr.upscale_video(make_clip("clip.mp4", frames=2), tmp_path / "outdir", scale=2, model="bicubic", preset="ultrafast")
    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((8, 8, 3), np.uint8))
    still = vsr.upscale_video(tmp_path / "still.png", tmp_path / "outdir", scale=2, model="bicubic")
    assert (video.output, still.output) == (tmp_path / "outdir" / "clip_x2.mp4", tmp_path / "outdir" / "still_x2.png")
    assert video.output.is_file() and still.output.is_file()


def test_progress_ends_at_the_frames_written_where_the_total_was_an_estimate(make_clip, tmp_path):
    """A variable-rate WebM's total is its duration times its declared rate (1340 for 836 frames):
    the bar ended at 62 %."""
    clip = make_clip("vfr.mkv", frames=6, time_base=Fraction(1, 1000), durations=[40, 40, 120, 40, 40, 40])
    reports: list[tuple[int, int | None]] = []
    vsr.upscale_video(clip, tmp_path / "out.mkv", scale=2, model="bicubic", preset="ultrafast",
                      progress=lambda done, total: reports.append((done, total)))
    assert reports[-1] == (6, 6)


def test_ensemble_on_bicubic_is_refused_rather_than_run_eight_times_for_nothing(make_clip, tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((8, 8, 3), np.uint8))
    for source in (make_clip("clip.mp4", frames=2), tmp_path / "still.png"):
        with pytest.raises(vsr.ConfigError, match="bicubic is the same in every orientation"):
            vsr.upscale_video(source, tmp_path / f"out{source.suffix}", scale=2, model="bicubic", ensemble=True)


def test_an_intra_refresh_stream_cut_before_its_recovery_is_no_damage(tmp_path, caplog):
    """x264's periodic intra refresh flags a P-frame as a keyframe: the frames the decoder drops until
    the refresh completes, after that flag, were said as damage ("2 frame(s) were lost in the decoder")."""
    source = tmp_path / "refresh.ts"
    with av.open(str(source), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=25, options={"x264-params": "intra-refresh=1:keyint=12", "bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        packets = []
        for i in range(36):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 64, 48), format="rgb24")
            frame.pts = i
            packets += video.encode(frame)
        packets += video.encode(None)
        for packet in packets[3:]:  # cut: the stream starts mid-refresh
            out.mux(packet)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", preset="ultrafast")
    said = " ".join(caplog.messages)
    assert "could not be decoded: the file starts in the middle of a group of pictures" in said
    assert "damaged" not in said and 0 < result.frames < 33
