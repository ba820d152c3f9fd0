"""Colour and aspect of SD sources (vsr.media.colour, vsr.media.filterplan): the output is tagged
with what the source was read as, `colour_matrix="bt709"` converts, `square_pixels` resamples."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

import vsr
from vsr.media.colour import encoded_range, guessed_colour, shown_colour, to_bt709_matrix
from vsr.media.filterplan import plan_filters, square_size
from vsr.media.probe import Colour, probe
from vsr.options import FilterOptions
from videoclips import raw_planes, read_video

FAST = {"model": "bicubic", "preset": "ultrafast"}
UNTAGGED = Colour(2, 2, 2, 0)


@pytest.mark.parametrize(
    "size,pix_fmt,expected",
    [
        ((640, 360), "yuv420p", Colour(6, 6, 6, 1)),  # SD web video: BT.601, 525-line
        ((720, 480), "yuv420p", Colour(6, 6, 6, 1)),  # NTSC DVD
        ((720, 486), "yuv422p10le", Colour(6, 6, 6, 1)),  # NTSC SDI / v210 capture: 525-line too (was PAL's)
        ((720, 576), "yuv420p", Colour(5, 6, 5, 1)),  # PAL DVD: 625-line primaries and matrix
        ((352, 288), "yuv420p", Colour(5, 6, 5, 1)),  # CIF
        ((1280, 720), "yuv420p", Colour(1, 1, 1, 1)),  # HD from 1280 wide
        ((1024, 768), "yuv420p", Colour(1, 1, 1, 1)),  # or above 576 lines
        ((720, 480), "yuvj420p", Colour(6, 6, 6, 2)),  # full range where the format says so
    ],
)
def test_an_untagged_source_is_read_as_players_read_it(size, pix_fmt, expected):
    assert guessed_colour(*size, pix_fmt) == expected
    assert shown_colour(UNTAGGED, *size, pix_fmt) == expected


def test_tags_that_are_there_win_field_by_field():
    assert shown_colour(Colour(1, 1, 1, 2), 640, 360, "yuv420p") == Colour(1, 1, 1, 2)
    assert shown_colour(Colour(2, 2, 1, 0), 640, 360, "yuv420p") == Colour(6, 6, 1, 1)  # a matrix alone
    assert shown_colour(Colour(9, 16, 9, 1), 640, 360, "yuv420p10le") == Colour(9, 16, 9, 1)


def test_rgb_frames_are_read_as_the_yuv_they_are_converted_to_and_grey_encodes_in_full_range():
    rgb = Colour(2, 2, 0, 2)  # what a PNG or RGB FFV1 stream reports
    assert shown_colour(rgb, 1920, 1080, "rgb24") == Colour(1, 1, 6, 1)  # FFmpeg's RGB → YUV: BT.601, limited
    assert shown_colour(Colour(2, 2, 0, 1), 640, 360, "yuv420p") == Colour(6, 6, 6, 1)  # "RGB" on YUV: a wrong tag
    assert encoded_range(Colour(6, 6, 6, 1), "gray") == encoded_range(Colour(6, 6, 6, 1), "yuvj420p") == 2
    assert encoded_range(Colour(6, 6, 6, 1), "yuv420p") == 1


@pytest.mark.parametrize("codec, pix_fmt, name", [("png", "rgb24", "in.mov"), ("ffv1", "gray", "in.mkv")])
@pytest.mark.parametrize("suffix, options", [
    (".mkv", {}),  # x264 takes grey as it is
    (".webm", {}),  # VP9 takes neither: converted to 4:2:0
    (".mp4", {"deblock": True}),  # a filter graph converts first
    (".mp4", {"colour_matrix": "bt709"}),
])
def test_rgb_and_grey_sources_keep_their_levels(make_clip, tmp_path, codec, pix_fmt, name, suffix, options):
    source = make_clip(name, width=64, height=48, frames=2, codec=codec, pix_fmt=pix_fmt)
    out = tmp_path / f"out{suffix}"
    vsr.upscale_video(source, out, scale=2, model="bicubic", crf=10 if suffix == ".webm" else 0, **options)
    with av.open(str(source)) as a, av.open(str(out)) as b:
        before = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        after = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    levels = [5, 50, 95]  # percentiles per channel; the frame's own tags decide its conversion to RGB
    spread_before = np.percentile(before.reshape(-1, 3), levels, axis=0)
    spread_after = np.percentile(after.reshape(-1, 3), levels, axis=0)
    assert np.abs(spread_after - spread_before).max() < 4  # a wrong matrix or range moves them by 8 and more


def test_an_untagged_sd_clip_upscaled_to_hd_is_tagged_bt601(make_clip, tmp_path):
    source = make_clip("in.mp4", width=320, height=240, frames=3)
    assert read_video(source, keep_lumas=False).colour == (2, 2, 2, 0)  # untagged
    out = tmp_path / "out.mp4"
    vsr.upscale_video(source, out, scale=4, **FAST)
    after = read_video(out, keep_lumas=False)
    assert (after.width, after.height) == (1280, 960)  # players would take this for BT.709 untagged
    assert after.colour == (6, 6, 6, 1)


# BT.601 and BT.709 limited-range YUV of pure red (R=255, G=B=0)
RED_601 = (81, 90, 240)
RED_709 = (63, 102, 240)


def solid_clip(path, yuv, colour: Colour | None = None, frames: int = 3):
    """A lossless (FFV1) 64x48 clip of one YUV colour, tagged with `colour` if given."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        if colour is not None:
            ctx = stream.codec_context
            ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = (
                colour.primaries, colour.transfer, colour.matrix, colour.range,
            )
        for index in range(frames):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane, value in zip(frame.planes, yuv):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def centre_yuv(path) -> tuple[int, int, int]:
    planes = raw_planes(path)[0]
    return tuple(int(p[p.shape[0] // 2, p.shape[1] // 2]) for p in planes)


@pytest.mark.parametrize("colour", [None, Colour(6, 6, 6, 1), Colour(5, 6, 5, 1)])
def test_bt709_conversion_gives_a_known_colour_s_bt709_values(tmp_path, colour):
    source = solid_clip(tmp_path / "red.mkv", RED_601, colour)
    out = tmp_path / "out.mkv"
    vsr.upscale_video(source, out, scale=2, colour_matrix="bt709", codec="ffv1", **FAST)
    assert np.allclose(centre_yuv(out), RED_709, atol=1)
    primaries = (colour or Colour(6, 6, 6, 1)).primaries
    assert read_video(out, keep_lumas=False).colour == (primaries, 6, 1, 1)  # only the matrix changed


def test_a_bt709_source_is_not_converted(tmp_path):
    source = solid_clip(tmp_path / "red.mkv", RED_709, Colour(1, 1, 1, 1))
    plan = plan_filters(probe(source), FilterOptions(colour_matrix="bt709"), "yuv420p")
    assert plan.reshape == "" and plan.frame_filter() is None
    assert to_bt709_matrix(Colour(1, 1, 1, 1)) == ("", Colour(1, 1, 1, 1))


def test_without_conversion_the_yuv_values_pass_unchanged(tmp_path):
    source = solid_clip(tmp_path / "red.mkv", RED_601)
    out = tmp_path / "out.mkv"
    vsr.upscale_video(source, out, scale=2, codec="ffv1", **FAST)
    assert centre_yuv(out) == RED_601
    assert read_video(out, keep_lumas=False).colour == (6, 6, 6, 1)


def test_the_sample_aspect_ratio_is_kept_by_default(make_clip, tmp_path):
    source = make_clip("in.mp4", sar=Fraction(8, 9), frames=3)
    out = tmp_path / "out.mp4"
    vsr.upscale_video(source, out, scale=2, **FAST)
    after = read_video(out, keep_lumas=False)
    assert (after.width, after.height, after.sar) == (128, 96, Fraction(8, 9))


@pytest.mark.parametrize("suffix, codec, kept", [
    (".mkv", "libx264", True), (".mkv", "libx265", True), (".mp4", "libvpx-vp9", True), (".mp4", "libsvtav1", True),
    (".webm", None, False), (".mkv", "libsvtav1", False), (".mkv", "ffv1", False),
])
def test_an_output_that_would_lose_the_sample_aspect_ratio_is_refused_before_any_work(make_clip, tmp_path, suffix,
                                                                                    codec, kept):
    """VP9, AV1 and FFV1 in WebM/Matroska came out with square pixels, without a word: Matroska's display
    size is the muxer's stream's, which PyAV cannot set (H.264/HEVC say it in their bitstream; MP4/MOV
    take the encoder's)."""
    source = make_clip("in.mp4", sar=Fraction(8, 9), frames=3)
    out = tmp_path / f"out{suffix}"
    options = {**FAST, "codec": codec} if codec else FAST
    if kept:
        vsr.upscale_video(source, out, scale=2, **options)
        assert read_video(out, keep_lumas=False).sar == Fraction(8, 9)
        joined = vsr.upscale_in_segments(  # the join's stream took no aspect ratio from an MP4 part's
            source, tmp_path / f"joined{suffix}", vsr.UpscaleOptions(
                model=vsr.ModelOptions(name="bicubic", scale=2),
                encode=vsr.EncodeOptions(codec=codec, preset="ultrafast")), segment_seconds=1).output
        assert read_video(joined, keep_lumas=False).sar == Fraction(8, 9)
        return
    with pytest.raises(vsr.ConfigError, match="cannot keep the source's sample aspect ratio 8:9 .* --square-pixels"):
        vsr.upscale_video(source, out, scale=2, **options)
    assert not out.exists()
    vsr.upscale_video(source, out, scale=2, square_pixels=True, **options)
    assert read_video(out, keep_lumas=False).sar in (None, Fraction(1, 1))


@pytest.mark.parametrize(
    "sar,size",
    [
        (Fraction(8, 9), (64, 54)),  # narrow pixels (NTSC DVD 4:3): taller, nothing thrown away
        (Fraction(32, 27), (76, 48)),  # wide pixels (NTSC DVD 16:9): wider
        (Fraction(1, 1), (64, 48)),
    ],
)
def test_square_pixels_resample_to_the_displayed_shape(make_clip, tmp_path, sar, size):
    source = make_clip("in.mp4", sar=sar, frames=3)
    out = tmp_path / "out.mp4"
    result = vsr.upscale_video(source, out, scale=2, square_pixels=True, **FAST)
    after = read_video(out)
    assert (after.width, after.height) == (result.width, result.height) == (2 * size[0], 2 * size[1])
    assert after.sar in (None, Fraction(1, 1), Fraction(0, 1))
    # the displayed shape is kept: width/height = source width x SAR / source height
    assert after.width / after.height == pytest.approx(64 * sar / 48, rel=0.03)
    assert len(after.pts) == 3


def test_square_size_rounds_to_the_chroma_grid():
    assert square_size(720, 480, Fraction(8, 9), "yuv420p") == (720, 540)
    assert square_size(720, 480, Fraction(32, 27), "yuv420p") == (854, 480)
    assert square_size(720, 576, Fraction(16, 15), "yuv420p") == (768, 576)
    assert square_size(176, 144, Fraction(128, 117), "yuv420p") == (192, 144)
    assert square_size(175, 144, Fraction(3, 2), "yuv444p") == (263, 144)
    assert square_size(720, 480, None, "yuv420p") == (720, 480)


@pytest.mark.parametrize("colour, name", [((9, 16, 9, 1), "PQ"), ((9, 18, 9, 1), "HLG")])
def test_hdr_cannot_be_converted_and_says_so_before_any_work(make_clip, tmp_path, colour, name):
    """FFmpeg's colorspace filter takes no HDR transfer: the run failed mid-way with "Invalid argument"."""
    from vsr.errors import ConfigError

    source = make_clip("hdr.mkv", frames=3, codec="ffv1", pix_fmt="yuv420p10le", colour=colour)
    with pytest.raises(ConfigError, match=rf"^--colour-matrix bt709 cannot convert hdr.mkv: it is HDR \({name} transfer\)"):
        vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, colour_matrix="bt709", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hdr.mkv"]


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_an_odd_size_that_the_colorspace_filter_refuses_is_said_plainly(make_clip, tmp_path, pix_fmt):
    from vsr.errors import ConfigError

    source = make_clip("odd.mkv", frames=3, codec="ffv1", width=67, height=49, pix_fmt=pix_fmt)
    with pytest.raises(ConfigError, match=r"^--colour-matrix bt709 needs an even frame size .*odd.mkv is 67x49$"):
        vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, colour_matrix="bt709", **FAST)
    assert vsr.upscale_video(source, tmp_path / "plain.mkv", scale=2, **FAST).frames == 3


@pytest.mark.parametrize("colour, reason", [((1, 9, 6, 1), "Unsupported input transfer characteristics 9"),
                                            ((1, 1, 12, 1), "Unsupported input colorspace 12")])
def test_a_colour_the_colorspace_filter_refuses_is_said_before_any_work(make_clip, tmp_path, colour, reason):
    """A log transfer or a chroma-derived matrix failed mid-run with 'ArgumentError: Invalid argument returned 22'."""
    from vsr.errors import ConfigError

    source = make_clip("log.mkv", frames=3, codec="ffv1", colour=colour)
    with pytest.raises(ConfigError, match=rf"^--colour-matrix bt709 cannot convert log.mkv: FFmpeg's colorspace filter refuses it \({reason}"):
        vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, colour_matrix="bt709", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.mkv"]


def test_a_vf_chain_refusing_the_frames_gives_ffmpegs_reason_and_names_the_chain(cli, make_clip, tmp_path):
    source = make_clip("plain.mp4", frames=4)
    result = cli("upscale", source, "-o", tmp_path / "out.mp4", "-s", "2", "-m", "bicubic", "--vf", "colorspace=all=bt709")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("vsr: error: the filter graph 'colorspace=all=bt709' refuses the frames: "
                                     "Unsupported input primaries 2 (unknown)")


def _palette_clip(path, width: int, height: int):
    """PNG-in-MOV in a palette of two entries, 75 % yellow on the left and black on the right (a GIF,
    an APNG or a screen capture decode the same way: pal8)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "pal8"
        for index in range(2):
            frame = av.VideoFrame(width, height, "pal8")
            entries = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)
            entries[:height, : width // 2], entries[:height, width // 2:] = 0, 1
            palette = np.frombuffer(frame.planes[1], np.uint8).reshape(-1, 4)
            palette[:] = 0
            palette[0], palette[1] = (0, 191, 191, 255), (0, 0, 0, 255)  # BGRA
            frame.pts, frame.time_base = index, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("width, vf", [(1280, None), (128, "setpts=PTS")])
def test_a_palette_video_is_read_as_rgb(tmp_path, width, vf):
    """FFmpeg does not count palettes as RGB: they were read as YUV tagged with the PNG decoder's
    full range, so an HD one was tagged BT.709 over BT.601 values, and a filter made it washed out
    (limited values tagged full)."""
    source = _palette_clip(tmp_path / "palette.mov", width, 48)
    options = vsr.UpscaleOptions(filters=FilterOptions(video=vf or ""))
    result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, options=options, **FAST)
    with av.open(str(result.output)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range) == (6, 1)  # BT.601, limited: as an RGB source is read
        y = next(container.decode(video=0)).to_ndarray()[:96]
    assert abs(int(y[48, width // 2]) - 161) <= 2 and abs(int(y[48, 3 * width // 2]) - 16) <= 2  # 75 % yellow, black


def test_full_range_grey_through_a_filter_into_yuv_keeps_its_levels(tmp_path):
    """FFmpeg's automatic conversion at the end of the filter graph made full-range grey limited
    (0 → 16, 255 → 235) in a YUV format, still tagged full: washed out. Without a filter it kept them."""
    source = tmp_path / "grey.mkv"
    levels = (255, 191, 128, 64, 32, 16, 8, 0)
    with av.open(str(source), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 48, "gray"
        stream.codec_context.color_range = 2
        for index in range(2):
            frame = av.VideoFrame(128, 48, "gray")
            plane = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)
            for k, level in enumerate(levels):
                plane[:48, k * 16:(k + 1) * 16] = level
            frame.color_range, frame.pts, frame.time_base = 2, index, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    for deblock in (False, True):
        result = vsr.upscale_video(source, tmp_path / f"out{deblock}.mkv", scale=2, pix_fmt="yuv420p", codec="ffv1",
                                   deblock=deblock, **FAST)
        with av.open(str(result.output)) as container:
            assert container.streams.video[0].codec_context.color_range == 2
            y = next(container.decode(video=0)).to_ndarray()[:96]
        assert [int(y[48, 32 * k + 16]) for k in range(8)] == list(levels), deblock


@pytest.mark.parametrize("width, vf, tags, yellow", [
    (64, "setparams=colorspace=bt709", (1, 1), 168),  # BT.709, limited: 75 % yellow at 168 (BT.601: 161)
    (64, "scale=out_color_matrix=bt709:out_range=pc", (1, 2), 177),  # and full range
    (1280, "setparams=color_primaries=bt709", (6, 1), 161),  # HD, primaries only: still FFmpeg's BT.601 matrix
])
def test_the_colour_a_vf_chain_sets_on_an_rgb_source_is_what_the_output_says(tmp_path, width, vf, tags, yellow):
    """An RGB source was always tagged BT.601 limited, whatever the chain had made of it: crushed, tinted.
    (And a chain that set the primaries alone got an HD size's guess, BT.709, for the matrix.)"""
    source = tmp_path / "rgb.mkv"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, 48, "bgr0"
        for index in range(2):
            rgb = np.zeros((48, width, 3), np.uint8)
            rgb[:, : width // 2] = (191, 191, 0)  # 75 % yellow, then black
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    options = vsr.UpscaleOptions(filters=FilterOptions(video=vf))
    result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, codec="ffv1", options=options, **FAST)
    with av.open(str(result.output)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range) == tags
        y = next(container.decode(video=0)).to_ndarray()
    assert abs(int(y[48, width // 2]) - yellow) <= 2
