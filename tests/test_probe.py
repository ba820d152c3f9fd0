"""vsr.media.probe: what a synthesized clip's header says (size, Fraction rate, time base, frame
count, colour, aspect ratio, rotation, other streams), and the InputErrors of unusable inputs."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vsr.errors import InputError
from vsr.media.probe import Colour, probe


def test_an_mp4_clip_is_described_exactly(make_clip):
    source = make_clip("in.mp4", frames=12, colour=(1, 1, 1, 1), sar=Fraction(4, 3), rotation=90, audio=("aac",))
    info = probe(source)
    assert info.path == source
    assert (info.width, info.height, info.pix_fmt, info.codec) == (64, 48, "yuv420p", "h264")
    assert "mp4" in info.format_name.split(",")
    assert isinstance(info.average_rate, Fraction) and info.average_rate == 25
    assert isinstance(info.time_base, Fraction) and info.time_base == Fraction(1, 12800)  # mp4's timescale for 25 fps
    assert info.frame_count == 12  # declared by the container
    assert info.duration_seconds == pytest.approx(12 / 25)
    assert info.colour == Colour(primaries=1, transfer=1, matrix=1, range=1)
    assert info.sample_aspect_ratio == Fraction(4, 3)
    assert info.rotation == 90
    assert (info.audio_streams, info.other_streams) == (1, 0)


def test_an_ntsc_rate_stays_an_exact_fraction(make_clip):
    info = probe(make_clip("in.mov", rate=Fraction(30000, 1001), frames=9))
    assert info.average_rate == Fraction(30000, 1001)
    assert info.time_base == Fraction(1, 30000)
    assert info.frame_count == 9


def test_matroska_frame_count_is_estimated_from_duration_and_rate(make_clip):
    """Matroska declares no frame count: duration x rate gives it for a constant-rate clip."""
    info = probe(make_clip("in.mkv", frames=12))
    assert info.time_base == Fraction(1, 1000)  # Matroska's only time base
    assert info.average_rate == 25
    assert info.frame_count == 12


def test_odd_size_ten_bit_colour_and_rotation_of_a_matroska_clip(make_clip):
    info = probe(make_clip("odd.mkv", width=67, height=45, codec="ffv1", frames=4, audio=("opus", "aac")))
    assert (info.width, info.height, info.codec) == (67, 45, "ffv1")
    assert info.audio_streams == 2

    hdr = probe(make_clip("hdr.mkv", frames=6, colour=(9, 16, 9, 1), pix_fmt="yuv420p10le", rotation=270))
    assert hdr.pix_fmt == "yuv420p10le"
    assert hdr.colour == Colour(9, 16, 9, 1)
    assert hdr.rotation % 360 == 270  # a display matrix reads back as -90


def test_an_unknown_colour_description_reads_as_unspecified(make_clip):
    info = probe(make_clip("plain.mp4", frames=3))
    assert info.colour == Colour(primaries=2, transfer=2, matrix=2, range=0)  # FFmpeg's "unspecified"
    assert info.sample_aspect_ratio is None
    assert info.rotation == 0


def test_a_file_without_a_video_stream_is_an_input_error(make_audio_only):
    source = make_audio_only("song.m4a", "aac")
    with pytest.raises(InputError, match="has no video stream"):
        probe(source)


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt"])
def test_a_text_file_is_not_a_video_file(tmp_path, name):
    source = tmp_path / name
    source.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError, match="not a video file FFmpeg can read"):
        probe(source)


def test_a_text_file_is_refused_with_ffmpegs_reason_in_words(tmp_path):
    source = tmp_path / "notes.mp4"
    source.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError, match=r"\(invalid data found when processing input\)$"):
        probe(source)


def test_a_video_stream_of_a_codec_ffmpeg_cannot_decode_is_an_input_error(make_clip):
    source = make_clip("in.mkv", frames=3)
    data = source.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    source.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/AVC"))  # a damaged codec id
    with pytest.raises(InputError, match="no decoder for its video stream"):
        probe(source)


def test_metadata_that_is_not_utf8_does_not_stop_the_file_from_being_read(make_clip):
    source = make_clip("in.mkv", frames=3)
    data = source.read_bytes()
    assert b"Lavf" in data  # the muxer's name, in the header and the ENCODER tag
    source.write_bytes(data.replace(b"Lavf", b"L\xff\xfef"))
    assert probe(source).width == 64


def test_a_missing_file_and_a_folder_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="is a folder"):
        probe(tmp_path)


def test_a_declared_rate_the_timestamps_belie_gives_way_to_them(tmp_path, caplog):
    """A Matroska file whose header says 1 ms frames (its encoder ran in a 1/1000 time base) read as
    1000 fps for 24: a gap warning at every frame, "cut short?", and an output tagged 1000 fps."""
    import logging

    import av
    import numpy as np

    import vsr
    from videoclips import draw_frame, remux

    made = tmp_path / "made.mkv"
    with av.open(str(made), "w") as output:
        video = output.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        for index in range(24):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(draw_frame(index, 64, 48)), format="rgb24")
            frame.pts, frame.time_base = round(index * 1000 / 24), Fraction(1, 1000)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
    source = remux(made, tmp_path / "in.mkv", "matroska", video_first=True)
    with av.open(str(source)) as container:
        assert (container.streams.video[0].average_rate, container.streams.video[0].guessed_rate) == (1000, 24)
    assert probe(source).average_rate == 24
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", preset="ultrafast")
    assert not caplog.records
    assert probe(result.output).average_rate == 24 and result.frames == 24


def test_a_variable_rate_below_its_base_rate_keeps_its_average_and_its_pauses_are_no_damage(make_clip, tmp_path, caplog):
    """A screen recording: 30 fps while something moves, a frame every 2 s when nothing does
    (FFmpeg: average 3.2, base 30). Taken at 30 fps, every pause was "no video frames ... damaged input"."""
    import logging

    import av

    import vsr

    source = make_clip("screen.mp4", frames=40, time_base=Fraction(1, 90000), durations=[3000] * 30 + [180000] * 10)
    with av.open(str(source)) as container:
        average = container.streams.video[0].average_rate
    assert probe(source).average_rate == average < 5
    with caplog.at_level(logging.WARNING, logger="vsr"):
        assert vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic", preset="ultrafast").frames == 40
    assert not caplog.records
