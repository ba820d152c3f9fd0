"""Reading the input as small steps that compose: demux → decode → (range) → (filter) → timestamps → planes.

Each step is a plain generator over a stream of items in file order: video packets, then frames,
become `VideoItem`s, while the other streams' packets travel alongside as `Passthrough`. No step
starts a thread or touches a queue (vsr.pipeline.read puts `read_items` on one).

Damaged input policy: a packet that fails to decode is skipped with a warning, and a frame whose
timestamp does not advance is dropped with a warning. A decoder may also drop a damaged frame
without an error (H.264 does): a video packet whose timestamp never comes out as a frame is
counted as lost and reported at the end. A frame that comes out damaged is counted too: the
decoder flags it (H.264, MPEG-4 and most others set AV_FRAME_FLAG_CORRUPT), or, for VP8, whose
frame-threaded decoder hides its errors, an `ErrorWitness` decoding the same packets sees them.
Every frame that does come out keeps its original timestamp, so later frames and the audio stay
in sync; a skipped or lost frame shows as the previous frame held a little longer.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, Protocol

import av
import numpy as np

from vsr.errors import ConfigError, InputError
from vsr.media.colour import RANGE_FULL, holds_rgb, rgb_to_yuv_range
from vsr.media.frames import Layout, Passthrough, VideoItem, plane_rows
from vsr.media.probe import first_video_stream, open_input, stream_frame_rate

log = logging.getLogger(__name__)


INTERLEAVE_SECONDS = 10
"""How far past the last frame read (`max_frames`) the file is searched for the other streams'
packets of that time: the interleaving distance of any sane muxer."""

HIDDEN_ERROR_CODECS = frozenset({"vp8"})
"""Decoders that report an error inside a frame only when they run with slice threads: with frame
threads (or one thread) FFmpeg's VP8 returns the damaged frame as if it were whole."""
GAP_FRAMES = 25
"""Frame durations between two frames' timestamps above which the jump is warned about."""
LISTED_PROBLEMS = 3
"""Damaged packets, and gaps, warned about one by one; the rest are only counted (DecodeStats)."""


@dataclass
class DecodeStats:
    frames: int = 0
    skipped_packets: int = 0
    dropped_frames: int = 0
    lost_frames: int = 0
    """Video packets whose frame never came out of the decoder, though it raised no error."""
    leading_frames: int = 0
    """Of the frames that never came out, those before the first that did: a file that starts in the
    middle of a group of pictures (a cut, or before an intra refresh completes), whose references
    are not in it; not damage."""
    damaged_frames: int = 0
    """Frames that came out of the decoder damaged: flagged corrupt by it, or (HIDDEN_ERROR_CODECS)
    whose packet failed in the ErrorWitness; also the frames decoded from those until the next keyframe."""
    end_seconds: Fraction | None = None
    """When the last frame read ends (its pts + duration), in seconds."""
    decoded_end_seconds: Fraction | None = None
    """When the latest frame decoded ends, before any filter (which may retime the frames), in seconds."""
    gaps: int = 0
    """Jumps of more than GAP_FRAMES frame durations between two frames' timestamps."""

    def damage_summary(self, dropped_packets: int = 0) -> str | None:
        """One line on what damage the input showed, or None for a clean read.

        dropped_packets: audio/subtitle packets the muxer dropped as damaged (vsr.media.mux.Muxer).
        """
        counts = [
            (self.skipped_packets, "video packet(s) could not be decoded"),
            (self.damaged_frames, "frame(s) were decoded with errors"),
            (self.dropped_frames, "frame(s) were dropped (their timestamps did not advance)"),
            (self.lost_frames, "frame(s) were lost in the decoder"),
            (dropped_packets, "audio/subtitle packet(s) were dropped"),
        ]
        parts = [f"{count} {what}" for count, what in counts if count]
        if not parts:
            return None
        return f"damaged input: {', '.join(parts)}; the output keeps the original timestamps"


def leading_frames_lost(count: int) -> str:
    """What to say of the first `count` frames, which could not be decoded without what came before them."""
    return (f"the first {count} frame(s) could not be decoded: the file starts in the middle of a group of "
            "pictures (a cut), before its first complete picture")


class ErrorWitness:
    """A second decoder of the same video packets, with slice threads, there only to count the
    errors that the main (frame-threaded) decoder hides; its frames are thrown away at once.

    After a damaged frame it fails every frame until the next keyframe (it has no reference to
    decode them from), which is right: the main decoder builds those on the damaged one.
    """

    def __init__(self, codec: str, extradata: bytes | None) -> None:
        self.context = av.CodecContext.create(codec, "r")
        if extradata:
            self.context.extradata = extradata
        # slice threads are what make VP8 return the errors of its macroblock rows
        self.context.thread_type = "SLICE"
        self.context.thread_count = 2

    @classmethod
    def for_stream(cls, stream: av.video.stream.VideoStream) -> ErrorWitness | None:
        """A witness for `stream` if its codec hides errors (HIDDEN_ERROR_CODECS), else None."""
        context = stream.codec_context
        if context.name not in HIDDEN_ERROR_CODECS:
            return None
        return cls(context.name, context.extradata)

    def fails(self, packet: av.Packet) -> bool:
        """Decode a non-empty packet (every one, in order: later frames refer to it); whether it failed."""
        try:
            self.context.decode(packet)
        except (av.FFmpegError, ValueError):
            return True
        return False


class FrameFilter(Protocol):
    """A hook between decode and timestamps (an FFmpeg filter graph, say): frames in, frames out.

    `push` takes one decoded frame and returns the frames ready so far (none, one or several);
    `flush` is called once after the last frame and returns the frames still held.
    """

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]: ...

    def flush(self) -> list[av.VideoFrame]: ...


class TimedFrame(NamedTuple):
    """A frame and the timestamp it keeps (its own, or one made up when it came without one)."""

    frame: av.VideoFrame
    pts: int


def read_items(
    path: Path,
    layout: Layout,
    passthrough_streams: list[int],
    stats: DecodeStats,
    frame_duration: int,
    max_frames: int | None = None,
    *,
    frame_filter: FrameFilter | None = None,
    start_pts: int | None = None,
    end_pts: int | None = None,
    filtered_time_base: Fraction | None = None,
) -> Iterator[VideoItem | Passthrough]:
    """Read `path`: decoded frames as VideoItems and the listed streams' packets as Passthrough, in file order.

    layout: the planes the VideoItems hold (frames in another pixel format are converted).
    frame_duration: one frame's duration in the video time base, for frames without a timestamp or duration.
    max_frames: reading stops after that many frames (and so do the other streams).
    frame_filter: run on every decoded frame, and flushed at the end, before the timestamps step.
    filtered_time_base: the time base the filtered frames are stamped in (default: the stream's; a
        finer one where the filters make more frames, one per field); `frame_duration` is in it too.
    start_pts, end_pts: decode only the frames with start_pts <= pts < end_pts (video time base),
        seeking to the keyframe at or before start_pts; the passthrough packets are then limited to
        the same span (`in_range`). VideoItem indices count from 0 at the first frame read.
    Raises InputError if the file cannot be opened, has no video stream, or (read whole) gives no frame
    at all (every packet damaged), rather than an empty output.
    """
    with _open_at(path, start_pts) as container:
        video = first_video_stream(container, path)
        video.thread_type = "AUTO"
        packets = demux(container, video, passthrough_streams)
        items: Iterator = best_effort_timestamps(decode(packets, stats, counted_from=start_pts, witness=ErrorWitness.for_stream(video)))
        ticks = max(1, round(frame_duration * Fraction(filtered_time_base) / video.time_base) if filtered_time_base else frame_duration)
        # before the filters, in the input's own frame durations: a chain that drops or adds frames is not damage
        rate = stream_frame_rate(path, video)
        items = gaps_watched(items, stats, max(1, round(1 / (rate * video.time_base))) if rate else ticks)
        if start_pts is not None or end_pts is not None:
            items = in_range(items, video.time_base, start_pts, end_pts, ticks)
        if frame_filter is not None:
            items = filtered(items, frame_filter, filtered_time_base or video.time_base)
        time_base = Fraction(filtered_time_base or video.time_base)
        last: VideoItem | None = None
        held = HeldPackets() if max_frames is not None else None
        for item in planes(timestamped(items, stats, frame_duration), layout, stats, frame_duration, max_frames):
            if held is not None and isinstance(item, Passthrough):
                yield from held.hold(item)
                continue
            if isinstance(item, VideoItem):
                last = item
                if held is not None:
                    yield from held.release_before((item.pts + item.duration) * time_base)
            yield item
        if last is not None:
            stats.end_seconds = (last.pts + last.duration) * time_base
        if last is not None and max_frames is not None:  # the video may end before frame N: the same cut
            end = stats.end_seconds
            yield from held.release_before(end)
            yield from passthrough_until(packets, end, passthrough_streams)
        elif held is not None:
            yield from held.release_before(None)
    if stats.frames == 0 and start_pts is None and end_pts is None and max_frames != 0:
        if frame_filter is not None and getattr(frame_filter, "frames_in", 0):
            raise ConfigError(f"the filters made no frame of the {frame_filter.frames_in} decoded from {path.name}")
        raise InputError(f"no video frame of {path} could be decoded (the file is damaged)")


def demux(
    container: av.container.InputContainer, video: av.video.stream.VideoStream, passthrough_streams: list[int]
) -> Iterator[av.Packet | Passthrough]:
    """The video stream's packets (the empty flush packets at the end included) and the listed
    streams' non-empty packets as Passthrough, in file order from the container's position."""
    streams = [video] + [container.streams[i] for i in passthrough_streams]
    for packet in container.demux(streams):
        if packet.stream.index == video.index:
            yield packet
        elif packet.size:
            yield Passthrough(packet.stream.index, packet)


class HeldPackets:
    """Other streams' packets held back in a preview (max_frames) until a frame that ends after
    them has come out: a filter that holds frames (a deinterlacer, decimate) lets the packets read
    meanwhile through first, and those past the last frame would make the audio outlast the video.
    At most MAX_HELD_PACKETS are held (the oldest go on first)."""

    def __init__(self) -> None:
        self._held: collections.deque[Passthrough] = collections.deque()

    def hold(self, item: Passthrough) -> Iterator[Passthrough]:
        self._held.append(item)
        if len(self._held) > MAX_HELD_PACKETS:
            yield self._held.popleft()

    def release_before(self, end: Fraction | None) -> Iterator[Passthrough]:
        """The packets that start before `end` seconds (all with None), in the order read; the
        others stay held (a preview's last ones are dropped with the holder)."""
        kept: collections.deque[Passthrough] = collections.deque()
        while self._held:
            item = self._held.popleft()
            time = _packet_seconds(item.packet)
            if end is None or time is None or time < end:
                yield item
            else:
                kept.append(item)
        self._held = kept


MAX_HELD_PACKETS = 4096
"""Packets of other streams a preview holds back at most (far more than a few frames' worth)."""


def passthrough_until(
    packets: Iterator[av.Packet | Passthrough], end: Fraction, streams: list[int]
) -> Iterator[Passthrough]:
    """After the last frame read (`max_frames`): the packets of the other `streams` that start
    before `end` (seconds), which a file may store well after that frame's own packet (an MP4
    interleaves in chunks). Reading stops once every stream has passed `end`, or the video packets
    are INTERLEAVE_SECONDS past it; the video packets are not decoded."""
    waiting = set(streams)
    for item in packets:
        if not waiting:
            return
        if isinstance(item, Passthrough):
            time = _packet_seconds(item.packet)
            if time is None or time < end:
                yield item  # (one without a timestamp goes with the packets around it)
            else:
                waiting.discard(item.stream_index)
        elif (time := _packet_seconds(item)) is not None and time > end + INTERLEAVE_SECONDS:
            return


def _packet_seconds(packet: av.Packet) -> Fraction | None:
    """A packet's pts (its dts where it has none) in seconds; None without either."""
    ticks = packet.pts if packet.pts is not None else packet.dts
    return None if ticks is None or packet.time_base is None else ticks * Fraction(packet.time_base)


def decode(
    items: Iterable[av.Packet | Passthrough],
    stats: DecodeStats,
    counted_from: int | None = None,
    witness: ErrorWitness | None = None,
) -> Iterator[av.VideoFrame | Passthrough]:
    """Video packets → frames in display order; a packet that fails to decode is counted and skipped.

    Frames the decoder flags as corrupt are counted in `stats.damaged_frames`, and so are the
    packets that fail in `witness` (for a decoder that hides its errors). When the packets run
    out, the video packets whose frame never came out are counted as lost. Only packets and
    frames with pts >= `counted_from`, if given, are counted: the frames before a seek target
    are not awaited. Passthrough items pass unchanged.
    """
    awaited: set[int] = set()  # timestamps of video packets whose frame has not come out yet
    first_shown: int | None = None  # the first frame out's pts: those before it lacked their references
    witness_failures = 0
    try:
        for item in items:
            if isinstance(item, Passthrough):
                yield item
                continue
            counted = item.pts is None or counted_from is None or item.pts >= counted_from
            # a packet an MP4 edit list cuts (is_discard: before its start) is decoded for reference only
            if item.size and item.pts is not None and counted and not item.is_discard:
                awaited.add(item.pts)
            frames = _decode_packet(item, stats)
            if witness is not None and item.size and witness.fails(item) and counted:
                witness_failures += 1
            for frame in frames:
                awaited.discard(frame.pts)
                if first_shown is None and frame.pts is not None:
                    first_shown = frame.pts
                if frame.is_corrupt and (frame.pts is None or counted_from is None or frame.pts >= counted_from):
                    stats.damaged_frames += 1
                yield frame
        leading = {pts for pts in awaited if first_shown is not None and pts < first_shown}  # a cut mid-GOP, intra refresh
        stats.leading_frames = len(leading)
        awaited -= leading
        # a packet that raised loses its frame too, but not always its own timestamp (frame threading)
        stats.lost_frames = max(0, len(awaited) - stats.skipped_packets)
        if stats.lost_frames:
            log.warning(
                "the decoder dropped %d damaged frame(s) without an error (missing pts: %s)",
                stats.lost_frames, ", ".join(map(str, sorted(awaited)[:10])),
            )
    finally:  # also when reading stops early (max_frames, the end of a range)
        # a packet the main decoder skipped or lost too is counted there, not as a damaged frame
        stats.damaged_frames += max(0, witness_failures - stats.skipped_packets - stats.lost_frames)
        if stats.damaged_frames:
            log.warning("%d frame(s) came out of the decoder damaged (decoded with errors)", stats.damaged_frames)


def in_range(
    items: Iterable[av.VideoFrame | Passthrough], time_base: Fraction, start_pts: int | None, end_pts: int | None,
    frame_duration: int = 1,
) -> Iterator[av.VideoFrame | Passthrough]:
    """The frames with start_pts <= pts < end_pts (`time_base` units; None: unbounded) and the
    passthrough packets whose pts falls in the same span of time.

    Frames before the first one at or after start are dropped; at the first frame at or after end
    the stream stops (the packets after it are not read). A frame without a timestamp (a raw
    elementary stream's) is given the one `timestamped` would give it, the previous one +
    `frame_duration` (0 for the first); a passthrough packet without one is dropped.
    """
    started = start_pts is None
    last: int | None = None
    for item in items:
        if isinstance(item, Passthrough):
            if _packet_in_range(item.packet, time_base, start_pts, end_pts):
                yield item
            continue
        if item.pts is None:
            item.pts = _frame_pts(item, last, frame_duration)
        last = item.pts
        if end_pts is not None and item.pts >= end_pts:
            return
        started = started or item.pts >= start_pts
        if started:
            yield item


def filtered(
    items: Iterable[av.VideoFrame | Passthrough], frame_filter: FrameFilter, time_base: Fraction
) -> Iterator[av.VideoFrame | Passthrough]:
    """Every frame through `frame_filter.push`, then its `flush()` once the frames run out. The
    filtered frames come back in `time_base` (the video stream's): a filter such as yadif works in
    a finer one of its own."""
    for item in items:
        if isinstance(item, Passthrough):
            yield item
        else:
            yield from _in_time_base(frame_filter.push(item), time_base)
    yield from _in_time_base(frame_filter.flush(), time_base)


def _in_time_base(frames: Iterable[av.VideoFrame], time_base: Fraction) -> Iterator[av.VideoFrame]:
    for frame in frames:
        if frame.time_base is not None and frame.time_base != time_base:
            factor = Fraction(frame.time_base) / time_base
            if frame.pts is not None:
                frame.pts = round(frame.pts * factor)
            if frame.duration:
                frame.duration = round(frame.duration * factor)
            frame.time_base = time_base
        yield frame


def best_effort_timestamps(items: Iterable[av.VideoFrame | Passthrough]) -> Iterator[av.VideoFrame | Passthrough]:
    """Decoded frames with the timestamp FFmpeg's best_effort_timestamp takes: their own, unless the
    stream's presentation times have gone back more often than its decoding times, then the
    decoding time. AVI holds no presentation times: FFmpeg makes them up in decode order, and with
    B-frames they go back (1, 3, 2, 4 …) while the decoding times advance; every frame behind its
    predecessor was dropped as damaged."""
    faulty_pts = faulty_dts = 0
    last_pts: int | None = None
    last_dts: int | None = None
    for item in items:
        if not isinstance(item, Passthrough):
            pts, dts = item.pts, item.dts
            if dts is not None:
                faulty_dts += last_dts is not None and dts <= last_dts
                last_dts = dts
            if pts is not None:
                faulty_pts += last_pts is not None and pts <= last_pts
                last_pts = pts
            if faulty_pts > faulty_dts or pts is None:
                item.pts = dts  # none at the decoder's flush: the frame after the last then (`timestamped`)
        yield item


def timestamped(
    items: Iterable[av.VideoFrame | Passthrough], stats: DecodeStats, frame_duration: int
) -> Iterator[TimedFrame | Passthrough]:
    """Frames with the timestamp they keep: their own, else the previous one + `frame_duration` (0
    for the first). A frame whose timestamp does not advance is dropped, counted and warned about."""
    last_pts: int | None = None
    for item in items:
        if isinstance(item, Passthrough):
            yield item
            continue
        pts = _frame_pts(item, last_pts, frame_duration)
        if last_pts is not None and pts <= last_pts:
            stats.dropped_frames += 1
            if stats.dropped_frames <= LISTED_PROBLEMS:  # the run's summary counts them all
                log.warning("dropped a frame whose timestamp %s does not advance (previous %s)%s", pts, last_pts,
                            "; further ones are counted, not listed" if stats.dropped_frames == LISTED_PROBLEMS else "")
            continue
        yield TimedFrame(item, pts)
        last_pts = pts


def gaps_watched(
    items: Iterable[av.VideoFrame | Passthrough], stats: DecodeStats, frame_duration: int,
) -> Iterator[av.VideoFrame | Passthrough]:
    """`items` as they are, each jump of more than GAP_FRAMES `frame_duration`s between two decoded
    frames' timestamps counted in `stats.gaps` and the first LISTED_PROBLEMS warned about with
    where they are (and when the latest ends kept in `stats.decoded_end_seconds`): a demuxer that
    resynchronises after damage (Matroska's) loses frames without any error."""
    last_pts: int | None = None
    for item in items:
        if not isinstance(item, Passthrough) and item.pts is not None:
            if last_pts is not None and item.pts - last_pts > GAP_FRAMES * frame_duration:
                _warn_of_gap(stats, last_pts, item.pts, frame_duration, item.time_base)
            last_pts = item.pts if last_pts is None else max(last_pts, item.pts)
            if item.time_base is not None:
                stats.decoded_end_seconds = (last_pts + frame_duration) * Fraction(item.time_base)
        yield item


def _warn_of_gap(stats: DecodeStats, last_pts: int, pts: int, frame_duration: int, time_base: Fraction | None) -> None:
    stats.gaps += 1
    if stats.gaps > LISTED_PROBLEMS:
        return
    after = last_pts + frame_duration
    where = (f"from {float(after * time_base):.2f} s to {float(pts * time_base):.2f} s" if time_base
             else f"between pts {after} and {pts}")
    log.warning("no video frames %s (%d frame durations): damaged input, or a pause in a variable-frame-rate "
                "video; the output keeps the gap%s", where, (pts - last_pts) // frame_duration - 1,
                "; further gaps are counted, not listed" if stats.gaps == LISTED_PROBLEMS else "")


def planes(
    items: Iterable[TimedFrame | Passthrough],
    layout: Layout,
    stats: DecodeStats,
    frame_duration: int,
    max_frames: int | None = None,
) -> Iterator[VideoItem | Passthrough]:
    """Frames → VideoItems holding their planes in `layout` (converted if the frame has other planes),
    indexed from `stats.frames` on and counted there; stops after `max_frames` frames. InputError
    where the frame size changes (a broadcast recording that switches from SD to HD): the job is
    planned for one size."""
    size: tuple[int, int] | None = None
    for item in items:
        if isinstance(item, Passthrough):
            yield item
            continue
        frame = item.frame
        if size is not None and (frame.width, frame.height) != size:
            when = f"at {float(item.pts * frame.time_base):.2f} s " if frame.time_base is not None else ""
            raise InputError(f"the video changes size {when}({size[0]}x{size[1]} → {frame.width}x{frame.height}); "
                             "vsr upscales one frame size: cut the file there and upscale each part")
        size = frame.width, frame.height
        if not layout.same_planes(frame.format.name):
            frame = _converted(frame, layout.pix_fmt)
        duration = frame.duration or frame_duration
        yield VideoItem(stats.frames, item.pts, duration, plane_arrays(frame, layout), keepalive=frame)
        stats.frames += 1
        if max_frames is not None and stats.frames >= max_frames:
            return


def _converted(frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
    """`frame` in `pix_fmt`; RGB into the range `rgb_to_yuv_range` says (PyAV would keep an RGB
    frame's full range in a limited-range format), as a filter graph's own conversion does."""
    if holds_rgb(frame.format):
        return frame.reformat(format=pix_fmt, src_color_range=RANGE_FULL, dst_color_range=rgb_to_yuv_range(pix_fmt))
    return frame.reformat(format=pix_fmt)


def plane_arrays(frame: av.VideoFrame, layout: Layout) -> list[np.ndarray]:
    """Views of a frame's planes as 2-D arrays without the line padding (no copy)."""
    sizes = layout.plane_sizes(frame.width, frame.height)
    return [plane_rows(plane, layout.dtype)[:height, :width] for plane, (width, height) in zip(frame.planes, sizes)]


def _open_at(path: Path, start_pts: int | None) -> av.container.InputContainer:
    """`path` opened, its demuxer placed on the keyframe at or before `start_pts` (video time base).

    Where the format cannot seek there, the file is opened afresh and read from the beginning:
    slower, but no frame at or after `start_pts` is ever skipped.
    """
    container = open_input(path)
    if start_pts is None:
        return container
    try:
        landed = _seek_to_keyframe(container, first_video_stream(container, path), start_pts)
    except BaseException:
        container.close()
        raise
    if landed:
        return container
    log.debug("seeking %s to pts %d did not land on a keyframe at or before it; reading from the start", path, start_pts)
    container.close()
    return open_input(path)


def _seek_to_keyframe(
    container: av.container.InputContainer, video: av.video.stream.VideoStream, start_pts: int
) -> bool:
    """Seek to the keyframe at or before `start_pts` and check where the demuxer really landed.

    A seek can land on a later keyframe, or on a frame that is no keyframe (formats without a
    keyframe index): then this returns False and the position is undefined.
    """
    try:
        container.seek(start_pts, stream=video, backward=True, any_frame=False)
        landing = next((p for p in container.demux(video) if p.size), None)
        landing_pts = None if landing is None else landing.pts if landing.pts is not None else landing.dts
        if landing_pts is None or not landing.is_keyframe or landing_pts > start_pts:
            return False
        # the check read past the landing packet (and other streams' packets before it): go back
        container.seek(start_pts, stream=video, backward=True, any_frame=False)
    except av.FFmpegError:
        return False
    return True


def _packet_in_range(packet: av.Packet, time_base: Fraction, start_pts: int | None, end_pts: int | None) -> bool:
    if packet.pts is None or packet.time_base is None:
        return False
    seconds = packet.pts * packet.time_base
    return (start_pts is None or seconds >= start_pts * time_base) and (end_pts is None or seconds < end_pts * time_base)


def _decode_packet(packet: av.Packet, stats: DecodeStats) -> list[av.VideoFrame]:
    try:
        return packet.decode()
    except (av.FFmpegError, ValueError) as exc:
        stats.skipped_packets += 1
        if stats.skipped_packets <= LISTED_PROBLEMS:
            log.warning("skipped a damaged video packet at pts %s (%s)%s", packet.pts, exc,
                        "; further ones are counted, not listed" if stats.skipped_packets == LISTED_PROBLEMS else "")
        return []


def _frame_pts(frame: av.VideoFrame, last_pts: int | None, frame_duration: int) -> int:
    if frame.pts is not None:
        return frame.pts
    return 0 if last_pts is None else last_pts + frame_duration
