"""vsr.media.decode on its own: items in file order with their timestamps, passthrough packets,
damaged packets counted, the timestamp rules, the frame filter hook, and range decoding (exactly
the frames with start <= pts < end after a seek), each against an independent PyAV decode."""

from __future__ import annotations

import hashlib
import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vsr.errors import InputError
from vsr.media import decode
from vsr.media.decode import LISTED_PROBLEMS, DecodeStats, TimedFrame, read_items, timestamped
from vsr.media.frames import Layout, Passthrough, VideoItem
from videoclips import draw_frame, raw_planes, read_index, read_video

YUV420 = Layout("yuv420p")


def read_all(path: Path, layout: Layout = YUV420, streams: list[int] | None = None, stats: DecodeStats | None = None,
             **options) -> list[VideoItem | Passthrough]:
    return list(read_items(path, layout, streams or [], stats or DecodeStats(), 1, **options))


def frames_of(items) -> list[tuple[int, str]]:
    """(pts, hash of the planes) of each VideoItem."""
    return [(i.pts, digest(i.planes)) for i in items if isinstance(i, VideoItem)]


def digest(planes) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in planes)).hexdigest()


def packets_of(path: Path, kind: str) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(getattr(container.streams, kind)[0]) if p.size]


# --- items, passthrough, damage -------------------------------------------------------------------


def test_frames_come_in_order_with_their_timestamps_and_exact_planes(make_clip):
    source = make_clip("in.mkv", width=66, height=46, frames=12)
    items = read_all(source)
    assert all(isinstance(i, VideoItem) for i in items)
    assert [i.index for i in items] == list(range(12))
    assert [i.pts for i in items] == read_video(source, keep_lumas=False).pts
    assert [i.duration for i in items] == [40] * 12  # Matroska's milliseconds at 25 fps
    for item, planes in zip(items, raw_planes(source)):
        assert [p.shape for p in item.planes] == [(46, 66), (23, 33), (23, 33)]
        assert all(np.array_equal(a, b) for a, b in zip(item.planes, planes))
    assert [read_index(i.planes[0].astype(np.float32) / 255, 66, 46) for i in items] == list(range(12))


def test_other_streams_pass_through_in_file_order_between_the_frames(make_clip):
    source = make_clip("in.mkv", frames=20, audio=("opus", "aac"))
    with av.open(str(source)) as container:
        streams = [s.index for s in container.streams.audio]
        in_file = [(p.stream.index, p.pts, bytes(p)) for p in container.demux(container.streams.audio) if p.size]
    items = read_all(source, streams=streams)
    passed = [(i.stream_index, i.packet.pts, bytes(i.packet)) for i in items if isinstance(i, Passthrough)]
    assert passed == in_file
    kinds = "".join("v" if isinstance(i, VideoItem) else "p" for i in items)
    assert kinds.count("v") == 20 and "vp" in kinds and "pv" in kinds  # interleaved, not gathered at one end
    only_first = read_all(source, streams=streams[:1])
    assert {i.stream_index for i in only_first if isinstance(i, Passthrough)} == {streams[0]}


def test_max_frames_stops_reading_after_that_many_frames(make_clip):
    source = make_clip("in.mkv", frames=20, audio=("opus",))
    stats = DecodeStats()
    items = list(read_items(source, YUV420, [1], stats, 1, 5))
    assert [i.index for i in items if isinstance(i, VideoItem)] == [0, 1, 2, 3, 4]
    assert isinstance(items[-1], VideoItem) and stats.frames == 5


def test_a_packet_that_fails_to_decode_is_counted_skipped_and_warned_about(make_clip, caplog):
    # Motion JPEG: random bytes in packet 5 make exactly that packet fail to decode
    source = make_clip("broken.mkv", codec="mjpeg", pix_fmt="yuvj420p", frames=12, corrupt=(5,))
    stats = DecodeStats()
    with caplog.at_level(logging.WARNING, logger="vsr"):
        items = read_all(source, stats=stats)
    written = [p.pts for p in packets_of(source, "video")]
    assert (stats.frames, stats.skipped_packets, stats.dropped_frames, stats.lost_frames) == (11, 1, 0, 0)
    assert [i.pts for i in items] == written[:5] + written[6:]
    assert [i.index for i in items] == list(range(11))  # indices count the frames read, not the packets
    assert any(f"skipped a damaged video packet at pts {written[5]}" in r.getMessage() for r in caplog.records)


def test_a_frame_the_decoder_drops_without_an_error_is_counted_as_lost(make_clip, caplog):
    source = make_clip("concealed.mkv", frames=12)
    packet = packets_of(source, "video")[3]
    data = bytearray(source.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, packet.size - 10, dtype=np.uint8)
    data[packet.pos + 10 : packet.pos + packet.size] = noise.tobytes()  # H.264 conceals this damage silently
    source.write_bytes(bytes(data))
    stats = DecodeStats()
    with caplog.at_level(logging.WARNING, logger="vsr"):
        items = read_all(source, stats=stats)
    assert packet.pts not in [i.pts for i in items]
    assert (stats.frames, stats.skipped_packets, stats.lost_frames) == (11, 0, 1)
    assert any(f"(missing pts: {packet.pts})" in r.getMessage() for r in caplog.records)


def test_a_file_without_video_is_an_input_error(make_audio_only):
    with pytest.raises(InputError, match="has no video stream"):
        read_all(make_audio_only("song.mka", "libopus"))


# --- timestamps ----------------------------------------------------------------------------------


def blank_frames(timestamps: list[int | None]) -> list[av.VideoFrame]:
    frames = []
    for pts in timestamps:
        frame = av.VideoFrame(16, 16, "yuv420p")
        frame.pts = pts
        frames.append(frame)
    return frames


def test_a_frame_without_a_timestamp_continues_from_the_previous_one(caplog):
    stats = DecodeStats()
    frames = blank_frames([None, None, 10, None, 30])
    out = list(timestamped(frames, stats, frame_duration=4))
    assert [t.pts for t in out] == [0, 4, 10, 14, 30]
    assert [t.frame for t in out] == frames
    assert stats.dropped_frames == 0 and not caplog.records


def test_a_timestamp_that_does_not_advance_drops_its_frame_with_a_warning(caplog):
    stats = DecodeStats()
    marker = Passthrough(1, packet="audio")
    with caplog.at_level(logging.WARNING, logger="vsr"):
        out = list(timestamped([*blank_frames([0, 40, 40]), marker, *blank_frames([20, None, 120])], stats, 40))
    assert [t if t is marker else t.pts for t in out] == [0, 40, marker, 80, 120]
    assert stats.dropped_frames == 2
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "dropped a frame whose timestamp 40 does not advance (previous 40)",
        "dropped a frame whose timestamp 20 does not advance (previous 40)",
    ]

    caplog.clear()  # many: the first few listed, the rest counted (the run's summary gives the total)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        list(timestamped(blank_frames([0] * 20), stats := DecodeStats(), 40))
    assert stats.dropped_frames == 19 and len(caplog.records) == LISTED_PROBLEMS
    assert caplog.records[-1].getMessage().endswith("; further ones are counted, not listed")


def test_planes_number_the_frames_and_fall_back_to_the_frame_duration():
    frames = blank_frames([0, 7])
    frames[0].duration = 3
    stats = DecodeStats(frames=5)
    items = list(decode.planes([TimedFrame(f, f.pts) for f in frames], YUV420, stats, frame_duration=9))
    assert [(i.index, i.pts, i.duration) for i in items] == [(5, 0, 3), (6, 7, 9)]
    assert stats.frames == 7


# --- the frame filter hook -----------------------------------------------------------------------


class HoldInPairs:
    """A test FrameFilter with a delay: frames come out two at a time, an odd last one at flush."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.held: list[av.VideoFrame] = []

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        self.calls.append(("push", frame.pts))
        self.held.append(frame)
        if len(self.held) < 2:
            return []
        ready, self.held = self.held, []
        return ready

    def flush(self) -> list[av.VideoFrame]:
        self.calls.append(("flush", None))
        ready, self.held = self.held, []
        return ready


class DoubleTimestamps:
    """A test FrameFilter that changes what it passes on: every frame's pts doubled."""

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        frame.pts *= 2
        return [frame]

    def flush(self) -> list[av.VideoFrame]:
        return []


def test_the_filter_sees_every_frame_in_order_and_is_flushed_once_at_the_end(make_clip):
    source = make_clip("in.mkv", frames=11, audio=("opus",))
    plain = read_all(source, streams=[1])
    hold = HoldInPairs()
    held = read_all(source, streams=[1], frame_filter=hold)
    pts = [i.pts for i in plain if isinstance(i, VideoItem)]
    assert hold.calls == [("push", p) for p in pts] + [("flush", None)]
    assert frames_of(held) == frames_of(plain)  # the odd 11th frame came out of the flush
    assert [i.index for i in held if isinstance(i, VideoItem)] == list(range(11))
    assert [bytes(i.packet) for i in held if isinstance(i, Passthrough)] == [
        bytes(i.packet) for i in plain if isinstance(i, Passthrough)
    ]


def test_timestamps_and_planes_come_from_the_filtered_frames(make_clip):
    source = make_clip("in.mkv", frames=6)
    plain = frames_of(read_all(source))
    doubled = frames_of(read_all(source, frame_filter=DoubleTimestamps()))
    assert doubled == [(2 * pts, planes) for pts, planes in plain]


# --- range decoding ------------------------------------------------------------------------------

SHORT_GOPS = {
    "h264-bframes-mkv": ("in.mkv", {"codec": "libx264", "options": {"g": "5", "bf": "2"}}),
    "h264-bframes-mp4": ("in.mp4", {"codec": "libx264", "options": {"g": "5", "bf": "2"}}),
    "mpeg4-mkv": ("in.mkv", {"codec": "mpeg4", "options": {"g": "5"}}),
}


def write_mpegts(path: Path, frames: int = 40) -> Path:
    """An MPEG-TS clip (no keyframe index: a seek lands on whatever packet is near) with 5-frame GOPs."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "5", "bf": "2", "x264-params": "log-level=error"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 64, 48), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def range_cases(pts: list[int]) -> list[tuple[int | None, int | None]]:
    """(start, end) pairs: on keyframes and between, starts that are no keyframe, a start between two
    frames, an end past the last frame, open ends and an empty range."""
    return [
        (pts[0], pts[10]),
        (pts[7], pts[13]),
        (pts[10], pts[15]),
        (pts[12] + 1, pts[30]),
        (pts[33], pts[-1] + 10**6),
        (pts[-1], None),
        (None, pts[6]),
        (pts[21], pts[21]),
    ]


def assert_ranges_match_a_full_decode(source: Path) -> None:
    full = frames_of(read_all(source))
    pts = [p for p, _ in full]
    assert len(pts) == 40
    for start, end in range_cases(pts):
        stats = DecodeStats()
        got = read_all(source, stats=stats, start_pts=start, end_pts=end)
        want = [(p, h) for p, h in full if (start is None or p >= start) and (end is None or p < end)]
        assert frames_of(got) == want, (start, end)
        assert [i.index for i in got] == list(range(len(want)))
        assert (stats.skipped_packets, stats.dropped_frames, stats.lost_frames) == (0, 0, 0), (start, end)


@pytest.mark.parametrize("case", list(SHORT_GOPS))
def test_a_range_decodes_exactly_the_frames_from_start_to_before_end(make_clip, caplog, case):
    name, options = SHORT_GOPS[case]
    source = make_clip(name, frames=40, **options)
    keyframes = {p.pts for p in packets_of(source, "video") if p.is_keyframe}
    pts = read_video(source, keep_lumas=False).pts
    assert len(keyframes) >= 8 and pts[7] not in keyframes and pts[33] not in keyframes
    with caplog.at_level(logging.DEBUG, logger="vsr"):
        assert_ranges_match_a_full_decode(source)
    assert not [r for r in caplog.records if "reading from the start" in r.getMessage()]  # the seeks landed


def test_a_range_in_a_file_without_a_keyframe_index_falls_back_to_reading_from_the_start(tmp_path, caplog):
    source = write_mpegts(tmp_path / "in.ts")
    with caplog.at_level(logging.DEBUG, logger="vsr"):
        assert_ranges_match_a_full_decode(source)
    assert any("reading from the start" in r.getMessage() for r in caplog.records)


def test_a_range_stops_reading_at_the_first_frame_at_or_after_its_end(make_clip, monkeypatch):
    source = make_clip("in.mkv", frames=40, codec="libx264", options={"g": "5", "bf": "2"})
    pts = read_video(source, keep_lumas=False).pts
    read = []
    original = decode.demux

    def demux(*args):
        for item in original(*args):
            read.append(item)
            yield item

    monkeypatch.setattr(decode, "demux", demux)
    items = read_all(source, start_pts=pts[10], end_pts=pts[14])
    assert [i.pts for i in items] == pts[10:14]
    assert len(read) < 14  # from the keyframe at pts[10], a few packets of decoder delay past pts[14]


def test_a_range_keeps_only_the_passthrough_packets_inside_it(make_clip):
    source = make_clip("in.mkv", frames=40, audio=("opus",), options={"g": "5"})
    pts = read_video(source, keep_lumas=False).pts
    time_base = Fraction(1, 1000)

    def seconds(item: Passthrough) -> Fraction:
        return item.packet.pts * item.packet.time_base

    full = [i for i in read_all(source, streams=[1]) if isinstance(i, Passthrough)]
    start, end = pts[12], pts[25]
    middle = [i for i in read_all(source, streams=[1], start_pts=start, end_pts=end) if isinstance(i, Passthrough)]
    assert middle and all(start * time_base <= seconds(i) < end * time_base for i in middle)
    tail = [i for i in read_all(source, streams=[1], start_pts=start) if isinstance(i, Passthrough)]
    assert [bytes(i.packet) for i in tail] == [bytes(i.packet) for i in full if seconds(i) >= start * time_base]


def test_a_jump_in_the_timestamps_is_counted_and_warned_about_where_it_is(caplog):
    """Matroska's demuxer resynchronises after damage at the next cluster: a third of a video went
    missing with no error, no warning and exit 0."""
    stats = DecodeStats()
    frames = blank_frames([0, 40, 80 + 40 * 24, 80 + 40 * 25, 80 + 40 * 55, 80 + 40 * 56])  # 24 missing (within), then 29
    for frame in frames:
        frame.time_base = Fraction(1, 1000)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        out = list(decode.gaps_watched(frames, stats, 40))
    assert out == frames and stats.gaps == 1
    assert caplog.messages == ["no video frames from 1.12 s to 2.28 s (29 frame durations): damaged input, "
                               "or a pause in a variable-frame-rate video; the output keeps the gap"]


def test_damaged_packets_past_the_first_few_are_counted_not_listed(make_clip, caplog):
    source = make_clip("broken.mkv", codec="mjpeg", pix_fmt="yuvj420p", frames=12, corrupt=(2, 4, 6, 8, 10))
    stats = DecodeStats()
    with caplog.at_level(logging.WARNING, logger="vsr"):
        read_all(source, stats=stats)
    assert stats.skipped_packets == 5
    listed = [m for m in caplog.messages if m.startswith("skipped a damaged video packet")]
    assert len(listed) == decode.LISTED_PROBLEMS and listed[-1].endswith("; further ones are counted, not listed")


def test_a_range_of_a_raw_stream_without_timestamps_starts_where_asked(tmp_path):
    """A raw H.264 stream's frames carry no pts: the range never started ("no video frame from 0.25 s on")."""
    raw = tmp_path / "raw.h264"
    with av.open(str(raw), "w", format="h264") as output:
        stream = output.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(12):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(draw_frame(i, 64, 48), format="rgb24")))
        output.mux(stream.encode(None))
    with av.open(str(raw)) as container:
        assert all(frame.pts is None for frame in container.decode(video=0))
        time_base = container.streams.video[0].time_base
    step = round(1 / (25 * time_base))
    items = list(read_items(raw, YUV420, [], DecodeStats(), step, start_pts=6 * step, end_pts=9 * step))
    assert [item.pts // step for item in items] == [6, 7, 8]
    assert [read_index(np.array(item.planes[0])[:, :64] / 255) for item in items] == [6, 7, 8]


def test_a_gap_in_a_file_is_warned_about_and_a_chain_that_drops_frames_is_not_taken_for_one(make_clip, tmp_path, caplog):
    """Packets 10 to 49 of an all-keyframe MKV gone (what Matroska's resync after damage leaves):
    warned; a --vf select keeping one frame in 30 of a whole file: no gap in the input, no warning."""
    import vsr

    source = make_clip("in.mkv", frames=80, options={"g": "1"})
    gapped = tmp_path / "gapped.mkv"
    with av.open(str(source)) as src, av.open(str(gapped), "w") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        for number, packet in enumerate(p for p in src.demux(src.streams.video[0]) if p.size):
            if not 10 <= number < 50:
                packet.stream = video
                out.mux(packet)
    caplog.set_level(logging.WARNING, logger="vsr")
    result = vsr.upscale_video(gapped, tmp_path / "out.mkv", scale=2, model="bicubic", preset="ultrafast")
    assert result.frames == 40
    assert [m for m in caplog.messages if m.startswith("no video frames")] == [
        "no video frames from 0.40 s to 2.00 s (40 frame durations): damaged input, or a pause in a "
        "variable-frame-rate video; the output keeps the gap"]
    caplog.clear()
    options = vsr.options.UpscaleOptions().replace(model={"name": "bicubic", "scale": 2}, encode={"preset": "ultrafast"},
                                                   filters={"video": "select='not(mod(n\\,30))'"})
    result = vsr.upscale_video(source, tmp_path / "selected.mkv", options=options)
    assert result.frames == 3 and not [m for m in caplog.messages if m.startswith("no video frames")]
    # a chain raising the rate: the gap (40 frames of the input) is measured in the input's frames, not the chain's
    fps = options.replace(filters={"video": "fps=100"})
    vsr.upscale_video(gapped, tmp_path / "fps.mkv", options=fps)
    assert [m for m in caplog.messages if m.startswith("no video frames")] == [
        "no video frames from 0.40 s to 2.00 s (40 frame durations): damaged input, or a pause in a "
        "variable-frame-rate video; the output keeps the gap"]


def test_h264_with_b_frames_in_avi_keeps_every_frame(make_clip, tmp_path, caplog):
    """AVI holds no presentation times: FFmpeg makes them up in decode order and, with B-frames, they go
    back (1, 3, 2, 4 …); each frame behind its predecessor was dropped as damaged (45 in, 36 out)."""
    import logging

    import vsr

    source = make_clip("bframes.avi", frames=30, width=64, height=48, options={"bf": "2", "b-adapt": "0"})
    with av.open(str(source)) as container:
        made_up = [frame.pts for frame in container.decode(video=0)]
    assert len(made_up) == 30 and any(b < a for a, b in zip(made_up, made_up[1:]))  # the case at hand
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", preset="ultrafast")
    assert result.frames == 30 and not caplog.messages
    with av.open(str(result.output)) as container:
        written = [frame.pts for frame in container.decode(video=0)]
    assert len(written) == 30 and all(b > a for a, b in zip(written, written[1:]))


def test_a_video_that_changes_size_is_one_clear_line(tmp_path):
    """A recording that switches from one frame size to another failed in the upscaler as
    'ValueError: all input arrays must have the same shape'."""
    import numpy as np

    import vsr

    parts = []
    for width, height in ((64, 48), (80, 60)):
        part = tmp_path / f"{width}.ts"
        with av.open(str(part), "w", format="mpegts") as out:
            video = out.add_stream("mpeg2video", rate=25)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            for index in range(6):
                frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 20 * index, np.uint8), format="rgb24")
                frame.pts = index
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        parts.append(part.read_bytes())
    source = tmp_path / "both.mpg"
    source.write_bytes(b"".join(parts))
    with pytest.raises(vsr.errors.VsrError, match=r"the video changes size at .*\(64x48 → 80x60\); vsr upscales one frame size"):
        vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model="bicubic", preset="ultrafast")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["64.ts", "80.ts", "both.mpg"]
