"""Deinterlacing, inverse telecine, deblocking and denoising in the pipeline (vsr.media.filterplan):
what comes out is filtered, with the right frames, timestamps and audio.

The interlaced clips are woven from two pictures a field apart (a bar moving 8 px per field over a
smooth gradient: the even rows from time t, the odd rows from t + ½), so an undeinterlaced frame
combs at the bar and a deinterlaced one does not.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import logging

import av
import av.filter
import cv2
import numpy as np
import pytest

import vsr
from vsr.errors import ConfigError
from vsr.media.filterplan import DENOISE_PRESETS, detect_interlacing, output_time_base, plan_filters
from vsr.media.filters import FilterStages, VideoFilterGraph
from vsr.media.probe import probe
from vsr.options import FilterOptions, UpscaleOptions
from vsr.pipeline.plan import plan_job
from vsr.pipeline.run import Scope, run_job
from videoclips import _audio_frames, audio_packets, draw_frame, read_index, read_video

FAST = {"model": "bicubic", "preset": "ultrafast"}
W, H = 64, 48


def picture(t: float) -> np.ndarray:
    """(H, W) uint8: a smooth gradient with a bright bar 10 px wide at x = 16 t (wrapping)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    image = 60 + 0.6 * x + 0.8 * y
    image[np.abs((x - 16 * t + W / 2) % W - W / 2) < 5] = 230
    return image.astype(np.uint8)


def woven(index: int) -> np.ndarray:
    """The even rows (top field) at time `index`, the odd rows (bottom field) half a frame later."""
    frame = picture(index)
    frame[1::2] = picture(index + 0.5)[1::2]
    return frame


def combing(y: np.ndarray) -> float:
    """Mean line-to-line difference: each row against the mean of the rows above and below."""
    y = y.astype(np.float32)
    return float(np.abs(y[1:-1] - (y[:-2] + y[2:]) / 2).mean())


def write_frames(
    path: Path, images: list[np.ndarray], *, codec: str = "libx264", interlaced: bool = False, audio: bool = True,
    rate: Fraction = Fraction(25), time_base: Fraction | None = None, sar: Fraction | None = None,
    dropout: tuple[int, int] | None = None,
) -> Path:
    """Grey pictures (or RGB ones) encoded as a clip, with an AAC tone (MP3 in AVI) as long as the
    video. `interlaced`: the frames are flagged interlaced, top field first (setfield), and coded
    as fields (interlaced DCT and motion estimation), so the stream says it is interlaced.
    `dropout` (first, count): the pictures from `first` on come `count` frame times late, as after
    a dropout in a broadcast (the audio runs on through it)."""
    options = {"preset": "ultrafast", "crf": "10", "x264-params": "log-level=error"} if codec == "libx264" else {}
    field_flags = VideoFilterGraph("setfield=tff", "yuv420p") if interlaced else None
    time_base = time_base or 1 / rate
    with av.open(str(path), "w") as output:
        video = output.add_stream(codec, rate=rate, options=options)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.time_base = video.codec_context.time_base = time_base
        if sar is not None:
            video.codec_context.sample_aspect_ratio = sar
        if interlaced:
            video.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        events = []
        step = round(1 / (rate * time_base))
        for index, image in enumerate(images):
            rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            late = dropout[1] if dropout and index >= dropout[0] else 0
            frame.pts, frame.time_base = (index + late) * step, time_base
            if field_flags is not None:
                [frame] = field_flags.push(frame)
            events.append((float(frame.pts * time_base), 0, video, frame))
        if audio:
            name = "mp3" if path.suffix == ".avi" else "aac"
            stream, frames = _audio_frames(output, name, float((len(images) + (dropout[1] if dropout else 0)) / rate), 330.0)
            events += [(float(f.pts * f.time_base), 1, stream, f) for f in frames]
        for _, _, stream, frame in sorted(events, key=lambda e: (e[0], e[1])):
            output.mux(stream.encode(frame))
        for stream in output.streams:
            output.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("interlaced")
    pictures = [woven(i) for i in range(10)]
    return {
        # H.264 coded as fields and flagged: the stream's field order and the frames say so
        "flagged": write_frames(folder / "flagged.mp4", pictures, interlaced=True),
        # MPEG-4: no field order, no flags (idet decides)
        "unflagged": write_frames(folder / "unflagged.mkv", pictures, codec="mpeg4"),
        # and in AVI, a time base of 1/25, too coarse for fields (no audio: AVI's interleaving of
        # our MP3 moves the video's second timestamp)
        "coarse": write_frames(folder / "coarse.avi", pictures, codec="mpeg4", audio=False),
        "progressive": write_frames(folder / "progressive.mp4", [picture(i) for i in range(10)]),
    }


def lumas(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def mean_combing(path: Path) -> float:
    return float(np.mean([combing(cv2.resize(y, (W, H), interpolation=cv2.INTER_AREA)) for y in lumas(path)]))


def times(path: Path) -> list[Fraction]:
    facts = read_video(path, keep_lumas=False)
    return [pts * facts.time_base for pts in facts.pts]


def video_end(path) -> Fraction:
    """When the last video frame ends, in seconds: the latest pts + duration of the video packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return max((p.pts + p.duration) * stream.time_base for p in container.demux(stream) if p.size)


def test_an_interlaced_stream_upscaled_without_deinterlacing_is_warned_about(clips, tmp_path, caplog):
    """Combing enlarged and the output flagged progressive, without a word."""
    for name in ("flagged", "progressive"):
        vsr.upscale_video(clips[name], tmp_path / f"{name}.mkv", scale=2, model="bicubic", preset="ultrafast")
    assert "flagged.mp4 says it is interlaced: upscaled as it is" in caplog.text
    assert "progressive.mp4 says it is interlaced" not in caplog.text
    caplog.clear()
    vsr.upscale_video(clips["flagged"], tmp_path / "done.mkv", scale=2, model="bicubic", preset="ultrafast",
                      deinterlace="auto")
    own = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=2), encode=vsr.EncodeOptions(preset="ultrafast"))
    vsr.upscale_video(clips["flagged"], tmp_path / "vf.mkv", options=own.replace(filters={"video": "yadif"}))  # the user's own
    assert "says it is interlaced" not in caplog.text


def test_dv_whose_frames_are_flagged_interlaced_but_whose_stream_declares_no_order_is_warned_about(tmp_path, caplog):
    """DV, the most common old-footage format, flags every frame interlaced and declares no field
    order: it was upscaled into enlarged combing without a word."""
    source = tmp_path / "tape.avi"
    with av.open(str(source), "w") as output:
        video = output.add_stream("dvvideo", rate=Fraction(30000, 1001))
        video.width, video.height, video.pix_fmt = 720, 480, "yuv411p"
        frame = av.VideoFrame.from_ndarray(np.full((480, 720, 3), 90, np.uint8), format="rgb24").reformat(format="yuv411p")
        frame.pts = 0
        output.mux(video.encode(frame))
        output.mux(video.encode(None))
    info = probe(source)
    assert info.field_order == 0 and info.first_frame_interlaced
    with caplog.at_level(logging.WARNING, logger="vsr"):
        plan_filters(info, FilterOptions(), "yuv420p")
    assert "tape.avi says it is interlaced: upscaled as it is" in caplog.text


def test_field_rate_on_a_progressive_video_says_it_has_nothing_to_do(clips, tmp_path, caplog):
    """--deinterlace auto --deinterlace-rate field on progressive video: frame rate kept without a word."""
    vsr.upscale_video(clips["progressive"], tmp_path / "p.mkv", scale=2, model="bicubic", preset="ultrafast",
                      deinterlace="auto", deinterlace_rate="field")
    assert "progressive.mp4 is progressive: --deinterlace-rate field has no fields" in caplog.text


def test_the_interlaced_clips_say_what_they_are(clips):
    assert av.open(str(clips["flagged"])).streams.video[0].codec_context.field_order == 2  # top field first
    assert detect_interlacing(probe(clips["flagged"])).parity == "auto"  # each frame's own flag
    unflagged = detect_interlacing(probe(clips["unflagged"]))
    assert (unflagged.parity, unflagged.all_frames) == ("tff", True)
    assert unflagged.evidence.startswith("idet")
    assert detect_interlacing(probe(clips["progressive"])) is None
    assert mean_combing(clips["flagged"]) > 4 * mean_combing(clips["progressive"])


@pytest.mark.parametrize("kind,deinterlace", [("flagged", "auto"), ("unflagged", "auto"), ("flagged", "yadif"), ("flagged", "w3fdif")])
def test_one_frame_per_frame_removes_the_combing_and_keeps_frames_timestamps_and_audio(clips, tmp_path, kind, deinterlace):
    source = clips[kind]
    out = tmp_path / "out.mp4"
    result = vsr.upscale_video(source, out, scale=2, deinterlace=deinterlace, **FAST)
    assert result.frames == 10
    assert times(out) == times(source)
    assert video_end(out) == video_end(source)  # the last frame lasts a frame, not a field (w3fdif's did)
    assert audio_packets(out) == audio_packets(source)
    assert mean_combing(out) < 0.35 * mean_combing(source)


@pytest.mark.parametrize("kind", ["flagged", "coarse"])
def test_one_frame_per_field_doubles_the_frames_and_their_times_exactly(clips, tmp_path, kind):
    source = clips[kind]
    out = tmp_path / "out.mp4"
    result = vsr.upscale_video(source, out, scale=2, deinterlace="bwdif", deinterlace_rate="field", **FAST)
    assert result.frames == 20
    before, after = times(source), times(out)
    step = before[1] - before[0]
    assert after == [t + half for t in before for half in (0, step / 2)]
    assert video_end(out) == video_end(source)
    assert read_video(out, keep_lumas=False).average_rate == 50
    assert audio_packets(out) == audio_packets(source)
    assert mean_combing(out) < 0.35 * mean_combing(source)
    mkv = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, deinterlace="bwdif", deinterlace_rate="field", **FAST)
    with av.open(str(mkv.output)) as container:  # Matroska stores each frame's own duration: half a frame each
        stream = container.streams.video[0]
        assert {p.duration * stream.time_base for p in container.demux(stream) if p.size} == {step / 2}


def test_a_time_base_too_coarse_for_fields_is_refined(clips):
    info = probe(clips["coarse"])
    assert info.time_base == Fraction(1, 25)
    plan = plan_filters(info, FilterOptions(deinterlace="bwdif", deinterlace_rate="field"), "yuv420p")
    assert (plan.output.time_base, plan.output.average_rate, plan.output.frame_count) == (Fraction(1, 50), 50, 20)
    assert output_time_base(info, Fraction(4, 5)) == Fraction(1, 100)  # decimate: 5/4 of a frame
    fine = probe(clips["flagged"])
    assert output_time_base(fine, Fraction(2)) == fine.time_base  # 1/12800: 512 ticks a frame, halves exactly


def telecined_indices(frames: int) -> list[int]:
    """The picture each frame shows when every 5th frame repeats the one before (what fieldmatch
    leaves of 3:2 pulldown: 4 pictures in 5 frames)."""
    return [i - (i + 1) // 5 for i in range(frames)]


@pytest.mark.parametrize("suffix, tolerance", [(".mp4", 1e-4), (".mkv", 6e-4)])  # Matroska: milliseconds
def test_inverse_telecine_drops_the_repeats_and_keeps_the_audio_in_sync(tmp_path, suffix, tolerance):
    """In Matroska (1/1000) the frames were spaced from a 29.97 fps frame rounded to 33 ms: the
    video ran 1 % fast and drifted from the audio."""
    indices = telecined_indices(40)  # 0 1 2 3 3 4 5 6 7 7 ...
    source = write_frames(
        tmp_path / f"telecined{suffix}", [draw_frame(i, W, H) for i in indices], rate=Fraction(30000, 1001)
    )
    out = tmp_path / f"out{suffix}"
    result = vsr.upscale_video(source, out, scale=2, ivtc=True, **FAST)
    assert result.frames == 32
    shown = [read_index(y) for y in read_video(out).lumas]
    assert shown == sorted(set(indices))  # every picture once, in order
    before, after = times(source), times(out)
    step = Fraction(1001, 24000)  # 23.976 fps, evenly from the first frame's time
    assert [float(t) for t in after] == pytest.approx([float(before[0] + k * step) for k in range(32)], abs=tolerance)
    # the video ends where it did: the last frame shows until 40 frames of 29.97 have passed
    assert float(after[-1] + step) == pytest.approx(float(before[0] + 40 * Fraction(1001, 30000)), abs=tolerance)
    assert audio_packets(out) == audio_packets(source)
    assert read_video(out, keep_lumas=False).average_rate == Fraction(24000, 1001)


@pytest.mark.parametrize("suffix, dropout", [(".mkv", (20, 20)), (".mp4", (20, 20)), (".mp4", (20, 12))])
def test_inverse_telecine_keeps_a_dropout_where_it_was(tmp_path, suffix, dropout, caplog):
    """Frames were stamped evenly from the first one: a gap closed up and everything after it
    played 20 frames early, ahead of its audio. (An MP4's average rate counts the gap: 20 fps for
    29.97, which spaced the frames 62 ms apart, and cycles placed from it overlapped.)"""
    indices = telecined_indices(40)
    source = write_frames(tmp_path / f"dropout{suffix}", [draw_frame(i, W, H) for i in indices],
                          rate=Fraction(30000, 1001), dropout=dropout)
    out = tmp_path / f"out{suffix}"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        assert vsr.upscale_video(source, out, scale=2, ivtc=True, **FAST).frames == 32
    assert not caplog.records
    before, after = times(source), times(out)
    step = Fraction(1001, 24000)
    assert after[15] - after[0] == pytest.approx(15 * step, abs=1e-3)  # 16 film frames before the dropout
    assert after[16] == pytest.approx(before[20], abs=1e-3)  # the next cycle starts when its first frame did
    assert after[31] + step == pytest.approx(video_end(source), abs=1e-3)  # and the video ends with the input


def test_inverse_telecine_of_an_incomplete_last_cycle_ends_with_the_input(tmp_path):
    """44 frames: decimate keeps the last 4 whole; spaced at 23.976 fps they ran a frame past the end."""
    source = write_frames(tmp_path / "tele44.mp4", [draw_frame(i, W, H) for i in telecined_indices(44)],
                          rate=Fraction(30000, 1001))
    out = tmp_path / "out.mp4"
    assert vsr.upscale_video(source, out, scale=2, ivtc=True, **FAST).frames == 36
    before, after = times(source), times(out)
    assert after[32:] == before[40:]  # the last 4 frames keep their own times
    assert video_end(out) == video_end(source)


def test_the_buffer_source_declares_the_frame_rate_and_the_aspect_ratio(clips):
    info = probe(clips["progressive"])
    VideoFilterGraph("fieldmatch,decimate", "yuv420p", info)  # needs the frame rate (PyAV's add_buffer leaves it out)
    graph = VideoFilterGraph("scale=w=iw*sar:h=ih", "yuv420p", sample_aspect_ratio=Fraction(3, 2), size=(96, H))
    frame = av.VideoFrame.from_ndarray(np.zeros((H, W, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    assert [(f.width, f.height) for f in graph.push(frame)] == [(96, H)]


def test_a_filter_missing_from_ffmpeg_is_a_one_line_config_error(clips, monkeypatch, tmp_path):
    monkeypatch.setattr(av.filter, "filters_available", av.filter.filters_available - {"bwdif"})
    with pytest.raises(ConfigError, match="no video filter named 'bwdif' in this FFmpeg build"):
        vsr.upscale_video(clips["flagged"], tmp_path / "out.mp4", scale=2, deinterlace="auto", **FAST)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_filter_on_the_command_line(cli, clips, monkeypatch, tmp_path):
    monkeypatch.setattr(av.filter, "filters_available", av.filter.filters_available - {"nlmeans"})
    result = cli("upscale", clips["flagged"], "-o", tmp_path / "out.mp4", "-s", "2", "-q", "-m", "bicubic", "--denoise", "medium")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["vsr: error: no video filter named 'nlmeans' in this FFmpeg build, in the filter graph "
                     f"{DENOISE_PRESETS['medium']!r}"]


@pytest.mark.parametrize(
    "options,message",
    [
        ({"deinterlace": "kerneldeint"}, "unknown deinterlace 'kerneldeint'; use one of off, auto, bwdif, yadif, w3fdif"),
        ({"denoise": "max"}, "unknown denoise 'max'; use one of off, light, medium, strong, temporal"),
        ({"deinterlace_rate": "half"}, "unknown deinterlace rate 'half'; use one of frame, field"),
        ({"colour_matrix": "bt2020"}, "unknown colour matrix 'bt2020'; use one of keep, bt709"),
        ({"deinterlace_rate": "field"}, "needs deinterlacing: add a deinterlacer"),
        ({"deinterlace_rate": "field", "deinterlace": "bwdif", "ivtc": True}, "inverse telecine gives progressive"),
    ],
)
def test_bad_filter_options_are_config_errors_naming_the_allowed_values(options, message):
    with pytest.raises(ConfigError, match=message):
        UpscaleOptions(filters=FilterOptions(**options)).validate()


def test_the_chain_runs_in_order_and_the_denoise_presets_exist(clips):
    info = probe(clips["flagged"])
    options = FilterOptions(deinterlace="auto", deblock=True, denoise="light", video="unsharp")
    plan = plan_filters(info, options, "yuv420p")
    assert plan.chain == (
        "bwdif=mode=send_frame:parity=auto:deint=interlaced,deblock," + DENOISE_PRESETS["light"] + ",unsharp"
    )
    # one frame per field deinterlaces every frame: a frame flagged progressive would give one frame, not two
    field = plan_filters(info, FilterOptions(deinterlace="auto", deinterlace_rate="field"), "yuv420p")
    assert field.chain == "bwdif=mode=send_field:parity=auto:deint=all"
    ivtc = plan_filters(info, FilterOptions(ivtc=True, deinterlace="yadif"), "yuv420p")
    assert ivtc.chain == "fieldmatch,yadif=mode=send_frame:parity=auto:deint=interlaced,decimate=cycle=5"
    assert plan_filters(probe(clips["progressive"]), FilterOptions(deinterlace="auto"), "yuv420p").chain == ""
    for preset in DENOISE_PRESETS.values():
        VideoFilterGraph(preset, "yuv420p", info)


@pytest.mark.parametrize("options", [{"denoise": "light"}, {"denoise": "medium"}, {"deblock": True}])
def test_denoise_and_deblock_keep_frames_and_timestamps(clips, tmp_path, options):
    source = clips["progressive"]
    out = tmp_path / "out.mp4"
    assert vsr.upscale_video(source, out, scale=2, **options, **FAST).frames == 10
    assert times(out) == times(source)


def test_filters_that_change_the_frame_count_refuse_a_part_of_the_input(clips, tmp_path):
    info = probe(clips["flagged"])
    job = plan_job(info, "mp4", UpscaleOptions().replace(
        model={"name": "bicubic", "scale": 2}, filters={"deinterlace": "bwdif", "deinterlace_rate": "field"},
    ))
    with pytest.raises(ConfigError, match="cannot run on a part of the input"):
        run_job(job, tmp_path / "part.mp4", scope=Scope(0, 1024))
    assert list(tmp_path.iterdir()) == []


def test_filter_stages_chain_graphs_and_count_frames(clips):
    stages = FilterStages([VideoFilterGraph("bwdif=mode=send_field", "yuv420p"), VideoFilterGraph("null", "yuv420p")])
    with av.open(str(clips["flagged"])) as container:
        out = [f for frame in container.decode(video=0) for f in stages.push(frame)] + stages.flush()
    assert (stages.frames_in, stages.frames_out, len(out)) == (10, 20, 20)


def test_inverse_telecine_on_a_video_that_is_not_at_a_telecine_rate_warns(clips, caplog):
    info = probe(clips["progressive"])  # 25 fps
    with caplog.at_level(logging.WARNING, logger="vsr"):
        plan_filters(info, FilterOptions(ivtc=True), "yuv420p")
    assert any(m.startswith("--ivtc undoes 3:2 pulldown (film telecined to 29.97 or 30 fps), but ")
               and "runs at 25.000 fps: one frame in five is dropped" in m for m in caplog.messages)


def test_a_vf_chain_that_changes_the_frame_count_keeps_its_own_frame_durations(clips, tmp_path):
    """The frames a chain such as fps=50 makes were given the input frames' durations (40, 20, 40 ms ...)."""
    options = UpscaleOptions().replace(model={"name": "bicubic", "scale": 2}, encode={"preset": "ultrafast"},
                                       filters={"video": "fps=50"})
    result = vsr.upscale_video(clips["progressive"], tmp_path / "out.mkv", options=options)
    with av.open(str(result.output)) as container:
        stream = container.streams.video[0]
        assert {p.duration * stream.time_base for p in container.demux(stream) if p.size} == {Fraction(1, 50)}
    assert result.frames == 2 * len(times(clips["progressive"]))


@pytest.mark.parametrize("chain, expected", [
    # a relabelling (setparams) and a conversion (colorspace) of the colour: tagged as the chain left it
    ("setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=pc", ((1, 1, 1, 2), Fraction(8, 9), 25)),
    ("colorspace=all=bt709:iall=bt601-6-625", ((1, 1, 1, 1), Fraction(8, 9), 25)),
    ("setsar=1", ((6, 6, 6, 1), Fraction(1), 25)),
    ("setdar=16/9", ((6, 6, 6, 1), Fraction(16, 9) / Fraction(W, H), 25)),  # 64x48 shown 16:9
    ("fps=50", ((6, 6, 6, 1), Fraction(8, 9), 50)),
    ("hflip", ((6, 6, 6, 1), Fraction(8, 9), 25)),  # changes none of them: the source's, as players read it
])
def test_the_output_is_tagged_with_what_the_vf_chain_made_of_the_colour_aspect_and_rate(tmp_path, chain, expected):
    """A --vf chain that converted or relabelled the colour, or set the aspect ratio or the frame
    rate, had its output tagged with the source's (an untagged SD clip: BT.601), so the colours
    and shape on screen were not what the chain made."""
    source = write_frames(tmp_path / "sd.mp4", [picture(i) for i in range(6)], audio=False, sar=Fraction(8, 9))
    options = UpscaleOptions().replace(model={"name": "bicubic", "scale": 2}, encode={"preset": "ultrafast"},
                                       filters={"video": chain})
    result = vsr.upscale_video(source, tmp_path / "out.mkv", options=options)
    with av.open(str(result.output)) as container:
        context = container.streams.video[0].codec_context
        tags = (context.color_primaries, context.color_trc, context.colorspace, context.color_range)
        assert (tags, context.sample_aspect_ratio, container.streams.video[0].average_rate) == expected


def test_square_pixels_after_a_vf_chain_that_sets_the_aspect_take_the_chains(tmp_path):
    """--square-pixels after setsar=1 has nothing to stretch (it stretched by the source's 8:9)."""
    source = write_frames(tmp_path / "sd.mp4", [picture(i) for i in range(4)], audio=False, sar=Fraction(8, 9))
    plan = plan_filters(probe(source), FilterOptions(video="setsar=1", square_pixels=True), "yuv420p")
    assert (plan.output.width, plan.output.height, plan.output.sample_aspect_ratio, plan.reshape) == (W, H, 1, "")
    plan = plan_filters(probe(source), FilterOptions(video="setsar=2", square_pixels=True), "yuv420p")
    assert (plan.output.width, plan.output.height, plan.output.sample_aspect_ratio) == (2 * W, H, 1)


def test_the_chain_s_tags_are_read_past_damaged_first_packets_and_dropped_first_frames(make_clip, tmp_path, caplog):
    """The tag trial read 8 frames and stopped at the first decoding error: a damaged first packet,
    or a chain that drops the first frames (select), left the output tagged as the input while its
    colours were converted."""
    damaged = make_clip("damaged.mkv", frames=12, sar=Fraction(8, 9), corrupt=(0,), options={"g": "2"})
    plan = plan_filters(probe(damaged), FilterOptions(video="setparams=colorspace=bt709:color_primaries=bt709"), "yuv420p")
    assert (plan.output.colour.matrix, plan.output.colour.primaries) == (1, 1)
    clean = make_clip("clean.mp4", frames=12)
    plan = plan_filters(probe(clean), FilterOptions(video="select='gte(n\\,10)',setsar=2"), "yuv420p")
    assert plan.output.sample_aspect_ratio == 2
    with caplog.at_level(logging.WARNING, logger="vsr"):
        plan = plan_filters(probe(clean), FilterOptions(video="select='gte(n\\,100)',setsar=2"), "yuv420p")
    assert not plan.output.sample_aspect_ratio or plan.output.sample_aspect_ratio != 2
    assert any("made no frame of the first 120, so what it sets of the colour, aspect ratio and frame rate is not "
               "known: the output is tagged as the input" in m for m in caplog.messages)


def test_a_vf_chain_after_inverse_telecine_gets_the_spaced_frames_and_keeps_its_own_rate(tmp_path):
    """--ivtc --vf fps=12: the 24p spacing was applied after the user's chain too, so its 12 fps
    frames came out 24p-spaced: the video half as long as its audio."""
    source = write_frames(tmp_path / "telecined.mp4", [draw_frame(i, W, H) for i in telecined_indices(40)],
                          rate=Fraction(30000, 1001))
    options = UpscaleOptions().replace(model={"name": "bicubic", "scale": 2}, encode={"preset": "ultrafast"},
                                       filters={"ivtc": True, "video": "fps=12"})
    result = vsr.upscale_video(source, tmp_path / "out.mp4", options=options)
    after = times(result.output)
    assert result.frames == 16 and read_video(result.output, keep_lumas=False).average_rate == 12
    assert [t - after[0] for t in after] == [Fraction(k, 12) for k in range(16)]
    assert float(after[-1] + Fraction(1, 12)) == pytest.approx(40 * 1001 / 30000, abs=0.01)  # as long as the input


def test_a_chain_that_keeps_no_frame_says_so_rather_than_calling_the_file_damaged(clips, tmp_path):
    options = UpscaleOptions().replace(model={"name": "bicubic", "scale": 2}, filters={"video": "select='gte(n\\,1000)'"})
    with pytest.raises(ConfigError, match=r"the filters made no frame of the 10 decoded from progressive\.mp4"):
        vsr.upscale_video(clips["progressive"], tmp_path / "out.mp4", options=options)
    assert not (tmp_path / "out.mp4").exists()


def raw_h264(path: Path, images: list[np.ndarray], interlaced: bool, order: str = "tff") -> bytes:
    options = {"preset": "ultrafast", "crf": "10", "x264-params": "log-level=error:bframes=0" + (f":{order}=1" if interlaced else "")}
    field_flags = VideoFilterGraph(f"setfield={order}", "yuv420p") if interlaced else None  # the pictures say their order
    with av.open(str(path), "w", format="h264") as output:
        video = output.add_stream("libx264", rate=25, options=options)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        if interlaced:
            video.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.repeat(image[..., None], 3, axis=2), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            if field_flags is not None:
                [frame] = field_flags.push(frame)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
    return path.read_bytes()


def test_auto_deinterlaces_a_stream_whose_first_picture_is_progressive(tmp_path):
    """FFmpeg takes an H.264 stream's field order from its first picture: a recording that opens on a
    progressive one said 'progressive' and was left combed, though nearly every frame is flagged."""
    source = tmp_path / "mixed.h264"
    source.write_bytes(raw_h264(tmp_path / "p.h264", [picture(i) for i in range(3)], False)
                       + raw_h264(tmp_path / "i.h264", [woven(i) for i in range(3, 20)], True))
    assert av.open(str(source)).streams.video[0].codec_context.field_order == 1  # progressive, as FFmpeg reads it
    found = detect_interlacing(probe(source))
    assert found is not None and found.parity == "auto" and "17 of the first 20 frames flagged" in found.evidence
    vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, deinterlace="auto", **FAST)
    assert np.mean([combing(cv2.resize(y, (W, H), interpolation=cv2.INTER_AREA)) for y in lumas(tmp_path / "out.mkv")[3:]]) < (
        0.5 * np.mean([combing(y) for y in lumas(source)[3:]]))


@pytest.mark.parametrize("name, order", [("bwdif", 3), ("yadif", 3), ("w3fdif", 3), ("bwdif", 4), ("bwdif", 5)])
def test_a_named_deinterlacer_takes_the_field_order_the_stream_declares(tmp_path, name, order):
    """A tape capture in FFV1 flags no frame; the deinterlacers then assume top field first, and at one
    frame per field every pair of fields came out swapped (the motion jittered back and forth).
    FFmpeg's orders "tb" (4) and "bt" (5), which its own command line writes for top- and bottom-first
    frames and its raw decoders read so, were taken the other way round."""
    bottom_first = order in (3, 5)
    source = tmp_path / "woven.mkv"
    with av.open(str(source), "w") as output:
        video = output.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.field_order = order  # stored in the Matroska header
        for index in range(3):
            image = picture(index + 1.5)
            image[int(bottom_first)::2] = picture(index + 1)[int(bottom_first)::2]  # the field shown first is the earlier one
            frame = av.VideoFrame.from_ndarray(np.repeat(image[..., None], 3, axis=2), format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
    out = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, deinterlace=name, deinterlace_rate="field", **FAST).output
    bar = [int(np.argmax(y.astype(np.float32).mean(axis=0))) // 2 for y in lumas(out)]
    assert len(bar) == 6 and all(later > earlier for earlier, later in zip(bar, bar[1:])), bar  # 16, 24, ..., 56


@pytest.mark.parametrize("options, warned", [
    (FilterOptions(denoise="light"), "nlmeans works on 8-bit samples only"),
    (FilterOptions(ivtc=True), "fieldmatch works on 8-bit samples only"),
    (FilterOptions(video="hflip,nlmeans=s=2"), "nlmeans works on 8-bit samples only"),
    (FilterOptions(deblock=True, deinterlace="bwdif"), None),
])
@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv420p"])
def test_a_filter_that_takes_only_8_bits_is_warned_about_on_a_deeper_video(make_clip, caplog, options, warned, pix_fmt):
    """FFmpeg converts 10-bit frames down and back up around nlmeans and fieldmatch without a word:
    every level of the 10-bit output came out a multiple of 4, banding back."""
    source = make_clip("ten.mkv", pix_fmt=pix_fmt, frames=6)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        plan_filters(probe(source), options, pix_fmt)
    said = [r.getMessage() for r in caplog.records if "8-bit samples" in r.getMessage()]
    if warned is None or pix_fmt == "yuv420p":
        assert said == []
    else:
        assert len(said) == 1 and said[0].startswith(warned) and "the 10-bit frames of" in said[0]


def test_a_named_deinterlacer_follows_each_frames_flags_where_the_order_changes(tmp_path):
    """A recording that turns from top to bottom field first at an ad break: FFmpeg says "top field
    first" for the stream (its first picture), and forcing that on every frame swapped the fields of
    all the bottom-first ones."""
    def woven_bff(index: int) -> np.ndarray:
        frame = picture(index + 0.5)
        frame[1::2] = picture(index)[1::2]
        return frame

    source = tmp_path / "mixed_order.h264"
    source.write_bytes(raw_h264(tmp_path / "t.h264", [woven(1)], True, "tff")  # the bar from x = 16 to 56, no wrap
                       + raw_h264(tmp_path / "b.h264", [woven_bff(2), woven_bff(3)], True, "bff"))
    assert av.open(str(source)).streams.video[0].codec_context.field_order == 2  # top first, for the whole stream
    plan = plan_filters(probe(source), FilterOptions(deinterlace="bwdif", deinterlace_rate="field"), "yuv420p")
    assert "parity=auto" in plan.chain
    out = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, deinterlace="bwdif", deinterlace_rate="field", **FAST).output
    bar = [int(np.argmax(y.astype(np.float32).mean(axis=0))) // 2 for y in lumas(out)]
    assert len(bar) == 6 and all(later > earlier for earlier, later in zip(bar, bar[1:])), bar
