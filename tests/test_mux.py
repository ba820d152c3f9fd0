"""The output container (vsr.media.mux) and the writer stage (vsr.pipeline.write): naming and
checking the output, the temporary file and its commit, and what happens to each input stream
(audio and subtitles copied, audio the container cannot hold re-encoded, the rest dropped)."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vsr
from vsr.errors import ConfigError, OutputError
from vsr.media import mux
from vsr.media.encode import add_video_stream, choose_pix_fmt, frame_from_rgb
from vsr.media.frames import Layout, Passthrough
from vsr.media.probe import VideoInfo, open_input, probe
from vsr.options import EncodeOptions
from vsr.pipeline.queue import END, StageQueue
from vsr.pipeline.write import write_stage
from vsr.segments.run import upscale_in_segments
from videoclips import audio_durations, audio_packets, draw_frame, listing, read_index, read_video

SUBTITLES = [(100, b"Hello"), (600, b"world")]


# --- naming and checking the output -------------------------------------------------------------


@pytest.mark.parametrize(
    "name,fmt", [("a.mp4", "mp4"), ("a.M4V", "mp4"), ("a.b.mkv", "matroska"), ("a.MOV", "mov"), ("a.webm", "webm")]
)
def test_container_format_follows_the_extension(name, fmt):
    assert mux.container_format(Path(name)) == fmt


@pytest.mark.parametrize("name, why", [
    ("a.avi", "vsr does not write .avi video"),  # was "cannot tell the output container", though it is plain
    ("a.mp4.part", "vsr does not write .part video"),
    ("a", "cannot tell the output container from 'a', which has no extension and is no folder: "
          "give a file name ending in one of"),  # -o done/ where done does not exist
])
def test_an_unknown_extension_is_an_output_error_listing_the_known_ones(name, why):
    with pytest.raises(OutputError, match=re.escape(why) + ".*.mp4, "):
        mux.container_format(Path(name))


def test_the_temporary_name_is_hidden_beside_the_target_with_its_extension(tmp_path):
    target = tmp_path / "my clip.v2.mkv"
    first, second = mux.temp_path_for(target), mux.temp_path_for(target)
    assert first.parent == tmp_path
    assert first.name.startswith(".my clip.v2.vsr-") and first.name.endswith(".partial.mkv")
    assert first.suffix == ".mkv"
    assert f".vsr-{os.getpid()}-" in first.name  # whose it is: a stale one is told from a live one by it
    assert first != second  # two runs into one folder do not share a temporary file


def test_check_output_path_accepts_a_new_file_in_a_writable_folder(tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"x")
    mux.check_output_path(source, tmp_path / "out.mp4", overwrite=False)


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_output_cannot_be_the_input_even_by_another_name(tmp_path, overwrite):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to(source)
    with pytest.raises(OutputError, match="is the input itself"):
        mux.check_output_path(source, tmp_path / "link.mp4", overwrite)
    with pytest.raises(OutputError, match="is the input itself"):
        mux.check_output_path(source, tmp_path / "." / "in.mp4", overwrite)


def test_check_output_path_refusals(tmp_path, monkeypatch):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"x")
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(OutputError, match="is a folder; give a file name with -o"):
        mux.check_output_path(source, tmp_path / "folder.mp4", overwrite=True)
    (tmp_path / "old.mp4").write_bytes(b"old")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        mux.check_output_path(source, tmp_path / "old.mp4", overwrite=False)
    mux.check_output_path(source, tmp_path / "old.mp4", overwrite=True)
    with pytest.raises(OutputError, match="the output folder .*missing does not exist"):
        mux.check_output_path(source, tmp_path / "missing" / "out.mp4", overwrite=False)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anywhere: pretend
    with pytest.raises(OutputError, match="cannot write to the output folder .* \\(permission denied\\)"):
        mux.check_output_path(source, tmp_path / "out.mp4", overwrite=False)


def test_a_read_only_file_system_is_called_so(tmp_path, monkeypatch):
    source = tmp_path / "in.mp4"
    source.write_bytes(b"x")
    real_statvfs = os.statvfs

    class ReadOnly:
        f_flag = real_statvfs(tmp_path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # what access(2) answers on a read-only mount
    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(OutputError, match="cannot write to the output folder .* \\(read-only file system\\)"):
        mux.check_output_path(source, tmp_path / "out.mp4", overwrite=False)


def test_reserving_on_a_read_only_file_system_says_so(tmp_path, monkeypatch):
    def read_only(path, flags, mode=0o777):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OutputError, match=f"cannot create the output file in {tmp_path} \\(read-only file system\\)"):
        with mux.reserve_output(tmp_path / "out.mp4"):
            pass


def test_the_reservation_is_a_locked_partial_file_removed_at_the_end(tmp_path):
    target = tmp_path / "out.mp4"
    with mux.reserve_output(target) as temp:
        assert temp.exists() and temp.parent == tmp_path and temp.name.endswith(".partial.mp4")
        fd = os.open(temp, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):  # another open file (another run) cannot take its lock
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        with pytest.raises(OutputError, match=f"another vsr run \\(pid {os.getpid()}\\) is writing {target}"):
            with mux.reserve_output(target):
                pass
    assert listing(tmp_path) == []


def test_a_new_partial_whose_lock_another_runs_sweep_holds_for_an_instant_is_locked_all_the_same(tmp_path, monkeypatch):
    """Another run judging the new partial (its sweep locks it for an instant): the lock refused then
    was ignored, and the partial went unlocked for the whole run (a later sweep could remove it)."""
    held = {"times": 2}
    real = mux.try_lock

    def swept_meanwhile(fd):
        if held["times"]:
            held["times"] -= 1
            return False
        return real(fd)

    monkeypatch.setattr(mux, "try_lock", swept_meanwhile)
    with mux.reserve_output(tmp_path / "out.mp4") as temp:
        fd = os.open(temp, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_a_committed_reservation_leaves_the_target(tmp_path):
    target = tmp_path / "out.mp4"
    with mux.reserve_output(target) as temp:
        temp.write_bytes(b"video")
        mux.commit_output(temp, target, overwrite=False)
    assert listing(tmp_path) == ["out.mp4"] and target.read_bytes() == b"video"


def partial(folder: Path, pid: int, token: str = "0123abcd", name: str = "out", suffix: str = ".mp4", age: float = 60) -> Path:
    path = folder / f".{name}.vsr-{pid}-{token}.partial{suffix}"
    path.write_bytes(b"half a video")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_only_the_targets_own_stale_partials_are_removed(tmp_path):
    dead = dead_pid()
    stale = [partial(tmp_path, dead), partial(tmp_path, dead, token="89abcdef")]
    others = [
        partial(tmp_path, dead, name="other"),  # another target
        partial(tmp_path, dead, suffix=".mkv"),  # another container
        partial(tmp_path, dead, token="not-hex!"),  # not vsr's naming
        tmp_path / ".out.partial.mp4",
    ]
    others[-1].write_bytes(b"someone else's")
    assert mux.remove_stale_partials(tmp_path / "out.mp4") == 2
    assert not any(p.exists() for p in stale) and all(p.exists() for p in others)


def test_an_unlocked_partial_of_a_live_pid_is_in_use_only_while_young(tmp_path):
    """Young: its run is between creating and locking it. Old: the pid was reused by another process."""
    young = partial(tmp_path, os.getpid(), age=0)
    with pytest.raises(OutputError, match="another vsr run"):
        mux.remove_stale_partials(tmp_path / "out.mp4")
    os.utime(young, (time.time() - 60, time.time() - 60))
    assert mux.remove_stale_partials(tmp_path / "out.mp4") == 1
    assert listing(tmp_path) == []


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_commit_output_moves_the_temporary_file_onto_the_target(tmp_path):
    temp, target = tmp_path / ".t.partial.mp4", tmp_path / "t.mp4"
    temp.write_bytes(b"new")
    mux.commit_output(temp, target, overwrite=False)
    assert target.read_bytes() == b"new" and not temp.exists()


def test_commit_output_does_not_replace_a_file_that_appeared_meanwhile(tmp_path):
    temp, target = tmp_path / ".t.partial.mp4", tmp_path / "t.mp4"
    temp.write_bytes(b"new")
    target.write_bytes(b"someone else's")
    with pytest.raises(OutputError, match="appeared while upscaling; pass --overwrite"):
        mux.commit_output(temp, target, overwrite=False)
    assert target.read_bytes() == b"someone else's"
    mux.commit_output(temp, target, overwrite=True)
    assert target.read_bytes() == b"new"


def test_remove_quietly_ignores_a_missing_file(tmp_path):
    path = tmp_path / "gone.mp4"
    mux.remove_quietly(path)
    path.write_bytes(b"x")
    mux.remove_quietly(path)
    assert not path.exists()


def test_open_output_gives_a_container_of_the_format(tmp_path):
    output = mux.open_output(tmp_path / ".x.partial.mkv", "matroska")
    assert output.format.name == "matroska"
    mux.close_quietly(output)


def test_a_failure_to_open_the_output_is_an_output_error_naming_the_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(av, "open", refuse)
    with pytest.raises(OutputError, match=f"cannot create the output file in {tmp_path}: .*Permission denied"):
        mux.open_output(tmp_path / ".x.partial.mp4", "mp4")


# --- streams ------------------------------------------------------------------------------------


def remux(source: Path, target: Path, *, frames: int | None = None) -> mux.Muxer:
    """Copy `source` to `target` through the writer stage: its frames re-encoded (as the pipeline
    hands them over, at the same size), its other streams as StreamMap says."""
    info = probe(source)
    fmt = mux.container_format(target)
    codec = "libvpx-vp9" if fmt == "webm" else "libx264"
    layout = Layout(choose_pix_fmt(codec, info.pix_fmt, None))
    stop = threading.Event()
    queue: StageQueue = StageQueue(10_000, stop)
    options = EncodeOptions(preset="ultrafast")
    with open_input(source) as templates:
        output = mux.open_output(target, fmt)
        video, streams = mux.set_up_streams(
            templates, output, fmt, codec,
            lambda: add_video_stream(output, info, codec, options, layout, info.width, info.height),
        )
        muxer = mux.Muxer(output, video, streams)
    with open_input(source) as container:
        wanted = [container.streams.video[0]] + [container.streams[i] for i in streams.kept]
        for packet in container.demux(wanted):
            if packet.stream.type == "video":
                for frame in packet.decode():
                    queue.put(frame.reformat(format=layout.pix_fmt))
            elif packet.size:
                queue.put(Passthrough(packet.stream.index, packet))
    queue.put(END)
    write_stage(queue, muxer)
    return muxer


@pytest.mark.parametrize("name,audio,out", [("in.mp4", ("aac",), "out.mkv"), ("in.mkv", ("mp3", "opus"), "out.mkv"),
                                             ("in.mkv", ("opus",), "out.webm"), ("in.mkv", ("aac",), "out.mov")])
def test_audio_the_container_can_hold_is_copied_packet_for_packet(make_clip, name, audio, out):
    source = make_clip(name, audio=audio, frames=8)
    muxer = remux(source, source.with_name(out))
    assert muxer.frames == 8 and muxer.video_packets == 8
    assert not muxer.streams.transcoded
    assert audio_packets(source.with_name(out)) == audio_packets(source)
    after = read_video(source.with_name(out))
    assert [read_index(y) for y in after.lumas] == list(range(8))


def test_audio_webm_cannot_hold_is_reencoded_as_opus_with_a_warning(make_clip, caplog):
    source = make_clip("in.mkv", audio=("aac", "mp3"), frames=8)
    target = source.with_name("out.webm")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        muxer = remux(source, target)
    assert sorted(muxer.streams.transcoded) == [1, 2]
    warnings = [r.getMessage() for r in caplog.records if "re-encoding" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0] == "webm cannot hold aac audio (stream #1): re-encoding it as libopus"
    assert warnings[1].startswith("webm cannot hold mp3")  # the decoder's name: mp3float
    assert warnings[1].endswith("audio (stream #2): re-encoding it as libopus")
    assert read_video(target).audio_codecs == ["opus", "opus"]
    for seconds_in, seconds_out in zip(audio_durations(source), audio_durations(target)):
        assert seconds_out == pytest.approx(seconds_in, abs=0.05)


def test_vorbis_into_mp4_is_reencoded_as_aac_since_players_would_play_no_sound(make_clip, caplog):
    source = make_clip("in.mkv", audio=("vorbis",), frames=8)
    target = source.with_name("out.mp4")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        muxer = remux(source, target)
    assert sorted(muxer.streams.transcoded) == [1]
    assert [r.getMessage() for r in caplog.records if "re-encoding" in r.getMessage()] == [
        "mp4 cannot hold vorbis audio (not in a standard way: browsers and Apple's players would play no sound) "
        "(stream #1): re-encoding it as aac"]
    assert read_video(target).audio_codecs == ["aac"]
    assert audio_durations(target)[0] == pytest.approx(audio_durations(source)[0], abs=0.05)
    assert not remux(source, source.with_name("out.mkv")).streams.transcoded  # Matroska holds it


def test_a_failing_encoder_set_up_is_an_output_error_and_closes_the_file(make_clip, tmp_path):
    source = make_clip("in.mp4", frames=2)
    output = mux.open_output(tmp_path / "out.mp4", "mp4")

    def add_video():
        raise ValueError("width must be even")

    with open_input(source) as templates, pytest.raises(
        OutputError, match="cannot set up the libx264 encoder in mp4: width must be even"
    ):
        mux.set_up_streams(templates, output, "mp4", "libx264", add_video)
    mux.close_quietly(output)  # a second close, as a failed run does: harmless


def clip_with_subtitles(path: Path, audio_first: bool, codec: str = "subrip",
                        texts: list[tuple[int, bytes]] = SUBTITLES) -> Path:
    with av.open(str(path), "w") as output:
        audio = output.add_stream("libopus", rate=48000) if audio_first else None
        video = output.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        subtitles = output.add_mux_stream(codec, time_base=Fraction(1, 1000))
        subtitles.metadata["language"] = "fre"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            output.mux(video.encode(frame))
        if audio is not None:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 48000, 0
            output.mux(audio.encode(samples))
            output.mux(audio.encode(None))
        for pts, text in texts:
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
    """DVD subtitles (pictures) cannot become WebM's text subtitles."""
    source = clip_with_subtitles(tmp_path / "in.mkv", audio_first=False, codec="dvd_subtitle")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.webm", scale=2, model="bicubic")
    assert stream_types(result.output) == ["video"]
    assert "dropping subtitle stream #1 (dvdsub): the webm container cannot hold it (try .mkv)" in caplog.messages


def subtitle_texts(path: Path) -> tuple[str, list[tuple[Fraction, Fraction, str]]]:
    """The codec of the first subtitle stream and its events: (start s, duration s, the text of
    its ASS dialogue line: what follows the 8th comma, FFmpeg's form for every text subtitle)."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        events = []
        for packet in container.demux(stream):
            subtitle = stream.codec_context.decode2(packet) if packet.size else None
            if subtitle is not None and len(subtitle):
                text = b"".join(bytes(rect.dialogue) for rect in subtitle).decode()
                events.append((packet.pts * packet.time_base, packet.duration * packet.time_base, text))
        return stream.codec_context.name, events


def untagged(events: list[tuple[Fraction, Fraction, str]]) -> list[tuple[Fraction, Fraction, str]]:
    """`events` with their ASS override tags ({\\i1} ...) taken out."""
    return [(start, duration, re.sub(r"\{[^}]*\}", "", text)) for start, duration, text in events]


STYLED = [(100, b"Hello <i>there</i>"), (600, b"two\nlines")]


@pytest.mark.parametrize("suffix, codec", [(".mp4", "mov_text"), (".mov", "mov_text"), (".webm", "webvtt")])
def test_text_subtitles_the_container_cannot_hold_are_converted(tmp_path, suffix, codec, caplog):
    """SubRip from Matroska was dropped in MP4, MOV and WebM: converted as FFmpeg's command line
    does, the text, its timing, italics and language kept."""
    source = clip_with_subtitles(tmp_path / "in.mkv", audio_first=False, texts=STYLED)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / f"out{suffix}", scale=2, model="bicubic")
    name, events = subtitle_texts(result.output)
    assert (name, untagged(events)) == (codec, untagged(subtitle_texts(source)[1]))
    assert untagged(events) == [(Fraction(1, 10), Fraction(2, 5), "Hello there"), (Fraction(3, 5), Fraction(2, 5), "two\nlines")]
    assert events[0][2].startswith("Hello {\\i1}there")  # in italics
    with av.open(str(result.output)) as container:
        assert container.streams.subtitles[0].metadata["language"] == ("fra" if suffix == ".mov" else "fre")
    assert f"{suffix[1:]} cannot hold srt subtitles (stream #1): converting them to {codec}" in " ".join(caplog.messages)

    back = vsr.upscale_video(result.output, tmp_path / "back.mkv", scale=2, model="bicubic")  # mov_text → ASS
    assert untagged(subtitle_texts(back.output)[1]) == untagged(events)


def test_an_extra_video_stream_is_dropped_with_a_warning(tmp_path, caplog):
    source = tmp_path / "two.mkv"
    with av.open(str(source), "w") as output:
        streams = [output.add_stream("libx264", rate=25) for _ in range(2)]
        for stream in streams:
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            for stream in streams:
                output.mux(stream.encode(frame_from_rgb(draw_frame(i, 64, 48), i, Fraction(1, 25))))
        for stream in streams:
            output.mux(stream.encode(None))
    target = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        muxer = remux(source, target)
    assert stream_types(target) == ["video"]
    assert muxer.streams.kept == []
    assert any("dropping extra video stream #1" in r.getMessage() for r in caplog.records)

    caplog.clear()  # a segment file (video only) leaves it out in silence: the join's warning is the one
    with caplog.at_level(logging.WARNING, logger="vsr"), open_input(source) as templates:
        output = mux.open_output(tmp_path / "segment.mkv", "matroska")
        mux.map_streams(templates, output, "matroska", lambda: output.add_stream("libx264", rate=25), video_only=True)
        mux.close_quietly(output)
    assert not caplog.records


def test_the_subtitle_fixture_has_one_audio_and_one_subtitle_stream(tmp_path):
    """The subtitle fixture is what the tests above think it is."""
    info: VideoInfo = probe(clip_with_subtitles(tmp_path / "in.mkv", audio_first=True))
    assert (info.audio_streams, info.other_streams) == (1, 1)


def test_a_header_ffmpeg_refuses_is_one_input_error_and_later_damage_is_dropped(make_clip, tmp_path, caplog):
    """The first packet writes the header: a stream whose parameters FFmpeg refuses there (what a
    damaged input header gives) is an InputError naming no file; after it, a copied packet whose
    timestamp goes back is dropped and counted, not an error."""
    source = make_clip("in.mkv", frames=3, audio=("aac",))
    with open_input(source) as src:
        audio = src.streams.audio[0]
        packets = [p for p in src.demux(audio) if p.size][:4]
        refused = av.open(str(tmp_path / "refused.mkv"), "w", format="matroska")
        stream = refused.add_stream_from_template(audio)
        stream.codec_context.sample_rate = 0
        muxer = mux.Muxer(refused, stream, mux.StreamMap(copied={audio.index: stream}))
        with pytest.raises(vsr.errors.InputError, match=r"cannot start the output file .*\(invalid argument\)") as caught:
            muxer.write_passthrough(Passthrough(audio.index, packets[0]))
        assert "refused.mkv" not in str(caught.value)
        mux.close_quietly(refused)

        with mux.open_output(tmp_path / "kept.mkv", "matroska") as output:
            stream = output.add_stream_from_template(audio)
            muxer = mux.Muxer(output, stream, mux.StreamMap(copied={audio.index: stream}))
            with caplog.at_level(logging.WARNING, logger="vsr"):
                for index in (0, 1, 2, 1, 1, 3):  # 1 twice more: back in time, then not advancing
                    muxer.write_passthrough(Passthrough(audio.index, packets[index]))
    assert muxer.dropped_packets == 2
    assert sum("dropping damaged packet(s)" in r.getMessage() for r in caplog.records) == 1  # once per run
    assert audio_packets(tmp_path / "kept.mkv") == [[bytes(p) for p in packets]]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".webm"])  # .webm re-encodes the AAC as Opus
def test_audio_streams_keep_their_language_and_title(make_clip, tmp_path, suffix):
    source = make_clip("in.mkv", frames=6, audio=("aac", "aac"))
    tagged = tmp_path / "tagged.mkv"
    with av.open(str(source)) as src, av.open(str(tagged), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        streams[1].metadata.update(language="eng", title="Main")
        streams[2].metadata.update(language="fre")
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    result = vsr.upscale_video(tagged, tmp_path / f"out{suffix}", scale=2, model="bicubic", preset="ultrafast")
    with av.open(str(result.output)) as out:
        tags = [(s.metadata.get("language"), s.metadata.get("title") or s.metadata.get("name")) for s in out.streams.audio]
    assert tags == [("eng", "Main"), ("fre", None)]


CHAPTERS = [(0, 400, "Opening"), (400, 1000, "Rest")]  # milliseconds


def _with_title_and_chapters(source: Path, target: Path) -> Path:
    """`source`'s streams remuxed into `target` with container tags and two chapters."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        out.metadata.update(title="Tape 3", comment="digitised 1998", major_brand="qt  ")
        out.set_chapters([
            {"id": i + 1, "start": start, "end": end, "time_base": Fraction(1, 1000), "metadata": {"title": title}}
            for i, (start, end, title) in enumerate(CHAPTERS)
        ])
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target


def _chapters(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as container:
        return [
            (float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]), c["metadata"].get("title"))
            for c in container.chapters()
        ]


@pytest.mark.parametrize("source_suffix", [".mp4", ".mkv"])  # MP4 keeps chapters in a text track of its own
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("segmented", [False, True])
def test_container_title_comment_and_chapters_are_kept(make_clip, tmp_path, caplog, source_suffix, suffix, segmented):
    source = _with_title_and_chapters(make_clip("in.mkv", frames=25, options={"g": "5"}, audio=("aac",)),
                                      tmp_path / f"tagged{source_suffix}")
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="bicubic", scale=2), encode=EncodeOptions(crf=18))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        if segmented:
            result = upscale_in_segments(source, tmp_path / f"out{suffix}", options, segment_seconds=0.4)
        else:
            result = vsr.upscale_video(source, tmp_path / f"out{suffix}", options=options)
    assert not caplog.records  # the MP4 chapter track is not "dropped"
    with av.open(str(result.output)) as out:
        tags = {key.lower(): value for key, value in out.metadata.items()}
    assert tags["title"] == "Tape 3" and tags["comment"] == "digitised 1998"
    assert tags.get("major_brand", "isom") != "qt  "  # the input file's own description is not copied
    assert _chapters(result.output) == [(start / 1000, end / 1000, title) for start, end, title in CHAPTERS]


def test_a_preview_keeps_the_tags_but_not_chapters_past_its_end(make_clip, tmp_path):
    source = _with_title_and_chapters(make_clip("in.mkv", frames=25), tmp_path / "tagged.mkv")
    result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", max_frames=5)
    with av.open(str(result.output)) as out:
        assert out.metadata.get("title") == "Tape 3"
    assert _chapters(result.output) == []


def test_pcm_without_a_channel_order_becomes_aac_in_mp4_at_set_up_and_stays_pcm_in_mov(make_clip, tmp_path, caplog):
    """Matroska (like AVI) stores PCM as "2 channels", with no order: MP4 refuses it only when the
    file is closed, and the AAC encoder refuses the layout. It was found out after all the work."""
    source = make_clip("in.mkv", frames=6, audio=("pcm_s16le",))
    with av.open(str(source)) as container:
        assert container.streams.audio[0].codec_context.layout.name == "2 channels"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        mp4 = vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic", preset="ultrafast").output
    assert [r.getMessage() for r in caplog.records] == ["mp4 cannot hold pcm_s16le audio (stream #1): re-encoding it as aac"]
    with av.open(str(mp4)) as out:
        audio = out.streams.audio[0]
        assert (audio.codec_context.name, audio.codec_context.layout.name) == ("aac", "stereo")
    assert audio_durations(mp4)[0] == pytest.approx(audio_durations(source)[0], abs=0.05)
    mov = vsr.upscale_video(source, tmp_path / "out.mov", scale=2, model="bicubic", preset="ultrafast").output
    assert audio_packets(mov) == audio_packets(source)


@pytest.mark.parametrize("layout, remixed", [("5.1(side)", "5.1"), ("4.0", "quad")])
def test_surround_in_an_order_opus_refuses_is_remixed_into_one_it_takes(tmp_path, caplog, layout, remixed):
    """AC-3's 5.1 decodes as 5.1(side), which libopus refuses (Vorbis's orders only): WebM output
    failed with "FFmpeg cannot start the output file ...; is the input's header damaged?"."""
    surround = tmp_path / "surround.mkv"
    with av.open(str(surround), "w") as output:
        video = output.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        audio = output.add_stream("ac3", rate=48000)
        audio.layout = layout
        for index in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 20 * index, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        channels = av.AudioLayout(layout).nb_channels
        for index in range(12):
            frame = av.AudioFrame.from_ndarray(np.full((channels, 1536), 0.1, np.float32), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = 48000, index * 1536
            output.mux(audio.encode(frame))
        output.mux(audio.encode(None))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(surround, tmp_path / "out.webm", scale=2, model="bicubic", preset="ultrafast")
    assert f"audio stream #1: libopus takes no {layout} audio: remixed to {remixed}" in caplog.text
    with av.open(str(result.output)) as out:
        assert out.streams.audio[0].codec_context.layout.name == remixed
    assert audio_durations(result.output)[0] == pytest.approx(audio_durations(surround)[0], abs=0.05)


@pytest.mark.parametrize("given, native", [
    ("FL+FR+FC+LFE+SL+SR+BC", "6.1"),  # a MOV channel atom's own order: an encoder opened on it crashed the process
    ("FR+FL", "stereo"),
    ("5.1(side)", "5.1(side)"),  # native already: as it is
    ("FL+FR+LFE", "2.1"),
])
def test_a_channel_order_of_its_own_becomes_the_named_layout_of_the_same_channels(given, native):
    assert mux.ordered_layout(av.AudioLayout(given)).name == native


def _decoded_audio(path: Path) -> tuple[float, int]:
    """The first decoded audio frame's time (s) and the samples decoded (the decoder leaves out
    what the file hides)."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    return float(frames[0].pts * frames[0].time_base), sum(frame.samples for frame in frames)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_audio_an_mp4_edit_list_hides_stays_hidden(make_clip, tmp_path, suffix):
    """A clip cut with `ffmpeg -ss 0.32 -c copy` keeps the audio before the cut, flagged to be
    discarded (its edit list hides it): into Matroska it was copied as audio to play, 0.34 s before
    the first frame."""
    source = make_clip("in.mp4", frames=25, audio=("aac",))
    cut = tmp_path / "cut.mp4"
    with av.open(str(source)) as original, av.open(str(cut), "w") as output:
        streams = {s.index: output.add_stream_from_template(s) for s in original.streams}
        for packet in original.demux():
            if packet.size:
                ticks = round(Fraction(32, 100) / packet.time_base)
                packet.pts, packet.dts = packet.pts - ticks, packet.dts - ticks
                packet.stream = streams[packet.stream.index]
                output.mux(packet)
    with av.open(str(cut)) as container:
        assert any(packet.is_discard for packet in container.demux(audio=0))
    out = vsr.upscale_video(cut, tmp_path / f"out{suffix}", scale=2, model="bicubic", preset="ultrafast").output
    start, samples = _decoded_audio(out)
    assert start == pytest.approx(_decoded_audio(cut)[0], abs=0.03) and start > -0.03
    assert samples == pytest.approx(_decoded_audio(cut)[1], abs=2048)
    with av.open(str(cut)) as original, av.open(str(out)) as written:
        hidden = [bytes(p) for p in original.demux(audio=0) if p.size and p.is_discard]
        first = next(bytes(p) for p in written.demux(audio=0) if p.size)
    # Matroska: the last hidden packet kept as the decoder's preroll (as AAC's priming is); MP4: all, hidden again
    assert first == (hidden[-1] if suffix == ".mkv" else hidden[0])


FONT = b"\x00\x01\x00\x00 not really a font, but bytes to carry"


def _richly_described(source: Path, target: Path) -> Path:
    """`source` (video, audio, subtitles) remuxed into Matroska with tags and dispositions on every
    stream (the subtitles forced), and a font attached."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        video, audio, subtitles = (streams[s.index] for s in (src.streams.video[0], src.streams.audio[0], src.streams.subtitles[0]))
        video.metadata.update(language="jpn", title="Main video")
        video.disposition = av.stream.Disposition.default
        audio.disposition = av.stream.Disposition(0)
        subtitles.metadata.update(language="fre")
        subtitles.disposition = av.stream.Disposition.forced
        out.add_attachment("font.ttf", "application/x-truetype-font", FONT)
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target


def _description(path: Path) -> list[tuple]:
    with av.open(str(path)) as container:
        return [(s.type, s.metadata.get("language"), s.metadata.get("title"), int(s.disposition)) for s in container.streams]


def test_stream_tags_dispositions_and_attachments_are_kept_in_matroska(tmp_path, caplog):
    source = _richly_described(clip_with_subtitles(tmp_path / "plain.mkv", audio_first=True), tmp_path / "in.mkv")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic")
    assert not caplog.records
    assert _description(result.output) == _description(source)
    assert [t[3] for t in _description(source)] == [0, 1, 64, 0]  # audio, video (default), subtitles (forced), font
    with av.open(str(result.output)) as out:
        (font,) = out.streams.attachments
        assert (font.name, font.mimetype, bytes(font.data)) == ("font.ttf", "application/x-truetype-font", FONT)


def test_an_attachment_mp4_cannot_hold_is_dropped_saying_so(tmp_path, caplog):
    source = _richly_described(clip_with_subtitles(tmp_path / "plain.mkv", audio_first=True), tmp_path / "in.mkv")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic")
    assert "dropping attachment stream #3 (font.ttf): the mp4 container holds no attachments (try .mkv)" in [
        r.getMessage() for r in caplog.records
    ]


def _with_timecode(make_clip, tmp_path, suffix: str = ".mov") -> Path:
    made = make_clip("in" + suffix, frames=6, audio=("aac",))
    source = tmp_path / ("tc" + suffix)
    with av.open(str(made)) as src, av.open(str(source), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        streams[src.streams.video[0].index].metadata["timecode"] = "01:00:00:00"
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return source


def test_a_timecode_at_another_frame_rate_is_left_out_with_a_warning(make_clip, tmp_path, caplog):
    source = _with_timecode(make_clip, tmp_path)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mov", scale=2, model="bicubic",
                                   deinterlace="bwdif", deinterlace_rate="field")
    assert caplog.messages == ["the input's timecode (01:00:00:00) is not kept: it counts frames at 25 fps, the output runs at 50"]
    with av.open(str(result.output)) as out:
        assert [s.type for s in out.streams] == ["video", "audio"]
        assert "timecode" not in out.streams.video[0].metadata


def test_a_mov_timecode_is_kept_as_a_timecode_track(make_clip, tmp_path, caplog):
    source = _with_timecode(make_clip, tmp_path)
    with av.open(str(source)) as container:
        assert [s.type for s in container.streams] == ["video", "audio", "data"]  # the muxer made a tmcd track
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mov", scale=2, model="bicubic")
    assert not caplog.records
    with av.open(str(result.output)) as out:
        assert [(s.type, s.metadata.get("timecode")) for s in out.streams] == [
            ("video", "01:00:00:00"), ("audio", None), ("data", "01:00:00:00")
        ]


def test_a_matroska_timecode_read_back_in_capitals_is_kept(make_clip, tmp_path, caplog):
    source = _with_timecode(make_clip, tmp_path, ".mkv")
    with av.open(str(source)) as container:
        assert "TIMECODE" in container.streams.video[0].metadata  # as FFmpeg reads a Matroska tag
    with caplog.at_level(logging.WARNING, logger="vsr"):
        mov = vsr.upscale_video(source, tmp_path / "out.mov", scale=2, model="bicubic").output
        mkv = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic").output
    assert not caplog.records
    with av.open(str(mov)) as out:
        assert [(s.type, s.metadata.get("timecode")) for s in out.streams] == [
            ("video", "01:00:00:00"), ("audio", None), ("data", "01:00:00:00")
        ]
    with av.open(str(mkv)) as out:
        assert out.streams.video[0].metadata.get("TIMECODE") == "01:00:00:00"


def test_frames_closer_than_a_millisecond_are_refused_for_matroska_before_any_work(make_clip, tmp_path):
    """1500 fps into .mkv: frames shared timestamps (0, 1, 1, 2, 3, 3 ms), exit 0."""
    source = make_clip("fast.mp4", frames=6, rate=Fraction(1500), time_base=Fraction(1, 90000))
    with pytest.raises(ConfigError, match=r"^the video runs at 1500 fps, but Matroska stores times in milliseconds"):
        vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic")
    assert listing(tmp_path) == ["fast.mp4"]
    assert vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic").frames == 6


def test_two_frames_within_a_millisecond_into_matroska_are_warned_about(make_clip, tmp_path, caplog):
    """They share a timestamp there (players drop one): written without a word."""
    source = make_clip("burst.mp4", frames=6, time_base=Fraction(1, 90000), durations=[3600, 27, 3573, 3600, 3600, 3600])
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic")
    assert [m for m in caplog.messages if "less than a millisecond" in m] == [
        "the frame at 0.0403 s comes less than a millisecond after the one before: Matroska stores milliseconds, so "
        "the two share a timestamp (players may drop one); write .mp4 or .mov to keep them apart"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic")
    assert not caplog.records


def test_a_codec_the_container_lists_but_refuses_is_an_output_error_before_any_work(make_clip, tmp_path):
    """MOV lists VP9 among its codecs and refuses it when the header is written: that was blamed on
    the input ("is the input's header damaged?") after the first frames were upscaled."""
    source = make_clip("in.mp4", frames=4)
    with pytest.raises(OutputError, match=r"^the mov container cannot hold libvpx-vp9 video; choose another --codec"):
        vsr.upscale_video(source, tmp_path / "out.mov", scale=2, model="bicubic", codec="libvpx-vp9")
    assert listing(tmp_path) == ["in.mp4"]


def test_languages_mov_spells_otherwise_are_kept_in_its_spelling(make_clip, tmp_path):
    """Matroska files often say "fre" and "deu"; MOV's language table keeps "fra" and "ger" and
    dropped the others."""
    source = make_clip("in.mkv", frames=4, audio=("aac", "aac", "aac"))
    tagged = tmp_path / "tagged.mkv"
    with av.open(str(source)) as src, av.open(str(tagged), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for index, language in zip((1, 2, 3), ("fre", "deu", "eng")):
            streams[index].metadata["language"] = language
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    result = vsr.upscale_video(tagged, tmp_path / "out.mov", scale=2, model="bicubic", preset="ultrafast")
    with av.open(str(result.output)) as out:
        assert [s.metadata.get("language") for s in out.streams.audio] == ["fra", "ger", "eng"]


COVER = bytes(np.frombuffer(__import__("cv2").imencode(".jpg", np.full((32, 32, 3), 90, np.uint8))[1], np.uint8))


def with_cover_art(path: Path, *, video: bool = True) -> Path:
    """An MP4 (or M4A without `video`) with AAC audio and a JPEG cover picture (an attached_pic
    stream, as FFmpeg shows covers), the video 64x48 and 5 frames long."""
    with av.open(str(path), "w", format="mp4") as output:
        streams = []
        if video:
            picture = output.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = output.add_stream("aac", rate=48000)
        cover = output.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        output.start_encoding()
        packet = av.Packet(COVER)
        packet.stream, packet.pts, packet.dts, packet.time_base = cover, 0, 0, cover.time_base
        output.mux(packet)
        for i in range(5 if video else 0):
            output.mux(picture.encode(frame_from_rgb(draw_frame(i, 64, 48), i, Fraction(1, 25))))
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024 * 5), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        output.mux(sound.encode(frame))
        for stream in [*streams, *output.streams.video[:1], sound]:
            output.mux(stream.encode(None))
    return path


def covers(path: Path) -> list[bytes]:
    """The cover pictures of `path`: attached_pic streams' pictures (Matroska's image attachments read so too)."""
    with av.open(str(path)) as container:
        pictures = [s for s in container.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        return [bytes(p) for s in pictures for p in container.demux(s) if p.size]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_cover_art_is_kept_and_not_taken_for_the_video(tmp_path, suffix):
    """A video with cover art lost it ("dropping extra video stream"); the output keeps it as its
    input did (MP4: a cover stream; Matroska: an attachment, which FFmpeg reads as a cover stream)."""
    result = vsr.upscale_video(with_cover_art(tmp_path / "in.mp4"), tmp_path / f"out{suffix}", scale=2, model="bicubic")
    assert covers(result.output) == [COVER]
    assert (result.frames, read_video(result.output, keep_lumas=False).width) == (5, 128)
    again = vsr.upscale_video(result.output, tmp_path / f"again{suffix}", scale=2, model="bicubic")
    assert covers(again.output) == [COVER] and again.frames == 5


def test_cover_art_the_container_cannot_hold_is_dropped_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(with_cover_art(tmp_path / "in.mp4"), tmp_path / "out.mov", scale=2, model="bicubic")
    assert covers(result.output) == [] and result.frames == 5
    assert any("dropping the cover art (stream #2, mjpeg): the mov container cannot hold it (try .mkv)" in m
               for m in caplog.messages)


def test_a_song_with_cover_art_is_not_a_video(tmp_path):
    """`vsr upscale song.m4a` made a one-frame video of the cover."""
    song = with_cover_art(tmp_path / "song.m4a", video=False)
    with pytest.raises(vsr.errors.InputError, match=r"song.m4a has no video stream \(only cover art\)$"):
        vsr.upscale_video(song, tmp_path / "out.mkv", scale=2, model="bicubic")


def test_an_output_folder_removed_during_the_run_is_an_output_error(tmp_path):
    """The rename at the end failed with Python's own FileNotFoundError text."""
    folder = tmp_path / "out"
    folder.mkdir()
    temp = folder / ".film.partial.mp4"
    temp.write_bytes(b"done")
    temp.unlink()
    folder.rmdir()
    with pytest.raises(OutputError, match=r"^cannot put the finished output at .+film\.mp4: no such file or directory "
                                          r"\(was its folder moved or removed during the run\?\)$"):
        mux.commit_output(temp, folder / "film.mp4", overwrite=False)


def test_overlapping_subtitles_converted_for_mp4_keep_their_start_times(tmp_path):
    """MOV's text track starts each event after the previous one ends: events 400 ms long every
    200 ms drifted later and later (24 of them: the last 0.48 s late). Each now ends when the next starts."""
    texts = [(100 + 200 * i, f"line {i}".encode()) for i in range(6)]
    source = clip_with_subtitles(tmp_path / "in.mkv", audio_first=False, texts=texts)
    result = vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic")
    _, events = subtitle_texts(result.output)
    assert [(start, duration, text) for start, duration, text in events] == [
        (Fraction(100 + 200 * i, 1000), Fraction(200 if i < 5 else 400, 1000), f"line {i}") for i in range(6)]


def test_a_garbage_decoding_time_from_the_encoder_is_made_sane():
    """x265 flushing fewer frames than its look-ahead (a 2-frame preview) gave dts = pts − 8·10¹⁸ about
    a third of the time: 'PatchWelcomeError: Not yet implemented in FFmpeg' from the MP4 muxer."""
    garbage = -8391460049217025913
    assert mux.sane_dts(0, garbage, None) == 0
    assert mux.sane_dts(2998, garbage + 2998, 0) == 2998
    assert mux.sane_dts(2998, garbage, 2998) == 2999  # never back, never equal
    assert mux.sane_dts(0, -6006, None) == -6006  # a real reorder delay is kept
    assert mux.sane_dts(5, 1 << 62, None) == 5


@pytest.mark.skipif("libx265" not in av.codecs_available, reason="no libx265 in this FFmpeg")
def test_a_two_frame_libx265_preview_is_written(make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=6)
    for attempt in range(3):  # x265's garbage came about one run in three
        result = vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic", codec="libx265",
                                   preset="ultrafast", max_frames=2, overwrite=True)
        assert result.frames == 2


def test_a_link_at_the_output_path_is_not_replaced_without_overwrite(make_clip, tmp_path):
    """A dangling link 'did not exist' (Path.exists follows it) and was replaced by the output."""
    source = make_clip("in.mp4", frames=3)
    (tmp_path / "out.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    with pytest.raises(vsr.errors.OutputError, match="exists; pass --overwrite"):
        vsr.upscale_video(source, tmp_path / "out.mp4", scale=2, model="bicubic")
    assert (tmp_path / "out.mp4").is_symlink()


def test_ffmpegs_log_level_is_restored_when_two_threads_explain_at_once():
    import threading
    import time

    import av.logging

    from vsr.media.explain import explained

    before = av.logging.get_level()
    first = threading.Thread(target=lambda: explained(lambda: time.sleep(0.2), "x"))
    second = threading.Thread(target=lambda: (time.sleep(0.05), explained(lambda: time.sleep(0.3), "y")))
    first.start(), second.start()
    first.join(), second.join()
    assert av.logging.get_level() == before


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_the_title_of_an_mp4_track_is_kept(tmp_path, suffix):
    """FFmpeg reads an MP4/MOV track's title back as "name": only "title" was copied, so every MP4
    input lost its tracks' titles ("Commentary")."""
    import numpy as np

    source = tmp_path / "titled.mp4"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        audio.metadata.update(title="Commentary", language="fra")
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 9 * index, np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 2 * 9600), np.int16), format="s16", layout="stereo")
        sound.sample_rate, sound.pts = 48000, 0
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    assert av.open(str(source)).streams.audio[0].metadata["name"] == "Commentary"  # as FFmpeg reads it
    out_path = vsr.upscale_video(source, tmp_path / f"out{suffix}", scale=2, model="bicubic", preset="ultrafast").output
    tags = av.open(str(out_path)).streams.audio[0].metadata
    assert tags.get("title", tags.get("name")) == "Commentary"


@pytest.mark.parametrize("suffix, warned", [(".mov", "marked forced, which MOV does not store; write .mp4 or .mkv"),
                                            (".mkv", None)])
def test_a_forced_subtitle_flag_a_container_drops_is_warned_about(tmp_path, caplog, suffix, warned):
    """MOV writes no forced flag: a forced-only track became one shown all the time, in silence."""
    source = tmp_path / "forced.mkv"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        subtitles = out.add_mux_stream("subrip", time_base=Fraction(1, 1000))
        subtitles.disposition = av.stream.Disposition.forced
        for index in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(video.encode(frame))
            if index == 2:
                packet = av.Packet(b"Bonjour")
                packet.stream, packet.pts, packet.dts, packet.duration, packet.time_base = subtitles, 80, 80, 200, Fraction(1, 1000)
                out.mux(packet)
        out.mux(video.encode(None))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(source, tmp_path / f"out{suffix}", scale=2, model="bicubic", preset="ultrafast")
    said = [m for m in caplog.messages if "does not store" in m]
    assert said == ([] if warned is None else [f"stream #1 is {warned} to keep it"])


def test_a_long_output_name_the_system_takes_is_taken(make_clip, tmp_path):
    """From about 225 bytes the partial file's name (30 bytes more) was too long: "cannot create the
    output file in . (file name too long)", though the name itself was legal; the work folder likewise."""
    from vsr.segments.run import upscale_in_segments
    from vsr.options import UpscaleOptions

    source = make_clip("in.mp4", frames=4)
    name = "é" * 120 + "x.mp4"  # 245 bytes
    assert vsr.upscale_video(source, tmp_path / name, scale=2, model="bicubic").frames == 4
    options = UpscaleOptions().replace(model={"name": "bicubic", "scale": 2}, run={"overwrite": True})
    assert upscale_in_segments(source, tmp_path / name, options, segment_seconds=1).frames == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.mp4", name])


def test_a_long_input_name_gets_a_default_output_name_that_fits(make_clip, tmp_path):
    """A 249-byte stem made `<stem>_x2.mp4` too long: "OSError: [Errno 36] File name too long"."""
    source = tmp_path / ("z" * 249 + ".mp4")
    source.write_bytes(make_clip("in.mp4", frames=2).read_bytes())
    result = vsr.upscale_video(source, scale=2, model="bicubic")
    assert result.output.parent == tmp_path and len(os.fsencode(result.output.name)) <= 255
    assert result.output.name.startswith("z" * 200) and result.output.name.endswith("_x2.mp4") and result.frames == 2


def test_two_long_names_that_begin_alike_keep_their_partials_and_work_apart(tmp_path):
    """Cut to the same prefix, a run of one was refused ("another vsr run is writing ...") while the
    other's partial existed, and their work folders were one."""
    from vsr.segments.run import default_work_dir

    first, second = (tmp_path / ("y" * 240 + tail) for tail in ("_A.mp4", "_B.mp4"))
    assert default_work_dir(first) != default_work_dir(second)
    assert all(len(os.fsencode(default_work_dir(p).name)) <= 255 for p in (first, second))
    with mux.reserve_output(first) as partial:
        assert partial.exists() and len(os.fsencode(partial.name)) <= 255
        with mux.reserve_output(second):
            assert partial.exists()  # neither refused nor swept by the other target's run
    cut = mux.temp_path_for(tmp_path / ("é" * 120 + ".mp4")).name  # 244 bytes: cut on a character, not within one
    assert len(os.fsencode(cut)) <= 255 and cut.encode("utf-8").decode("utf-8") == cut
    latin1 = os.fsdecode(b"caf\xe9-" * 48 + b".mp4")  # not UTF-8: its bytes were dropped from the cut name
    assert os.fsencode(mux.temp_path_for(tmp_path / latin1).name).startswith(b".caf\xe9-caf\xe9-")


def test_only_the_streams_written_move_a_wrapped_clock_start():
    """A teletext or data stream left out of the output, starting well ahead of a picture before 0,
    moved the whole output by its lead: the output opened on a gap."""
    from types import SimpleNamespace

    def stream(index: int, start: int) -> SimpleNamespace:
        return SimpleNamespace(index=index, start_time=start, time_base=Fraction(1, 90000))

    source = SimpleNamespace(format=SimpleNamespace(name="mpegts"),
                             streams=[stream(0, -36000), stream(1, -72000), stream(2, -900000)])  # video, audio, data
    assert mux.video_shift(-36000, Fraction(1, 90000), source, kept=[1]) == Fraction(72000, 90000)
    assert mux.video_shift(-36000, Fraction(1, 90000), source, kept=[]) == Fraction(36000, 90000)
