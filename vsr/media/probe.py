"""What the input is: sizes, frame rate as a Fraction, time base, colour, rotation and its other streams."""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av

from vsr.errors import InputError


@dataclass(frozen=True)
class Colour:
    """Colour description as FFmpeg's enum values (AVColorPrimaries, AVColorTransferCharacteristic, ...)."""

    primaries: int
    transfer: int
    matrix: int
    range: int


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    format_name: str
    width: int
    height: int
    pix_fmt: str
    codec: str
    time_base: Fraction
    average_rate: Fraction | None
    frame_count: int | None
    """Frames as the container declares them, else an estimate from duration x rate, else None."""
    duration_seconds: float | None
    colour: Colour
    sample_aspect_ratio: Fraction | None
    rotation: int
    audio_streams: int
    other_streams: int
    base_rate: Fraction | None = None
    """FFmpeg's guess of the rate the frames come at where they come (r_frame_rate), which a
    dropout or a variable rate does not lower as it does the average."""
    declared_seconds: float | None = None
    """How long the header says the video stream lasts (its own duration, or Matroska's DURATION
    tag of the stream), None where it says nothing of the video alone."""
    start_pts: int = 0
    """The video stream's first timestamp (time base units): negative where the picture starts
    before 0 (an MPEG-TS whose clock wrapped just after its start)."""
    display_matrix: tuple[int, ...] | None = None
    """The first frame's display matrix as stored (9 integers, FFmpeg's layout) where it has one:
    a mirror, which `rotation` cannot say, is kept by copying it whole."""
    hdr_metadata: tuple[str, ...] = ()
    """The HDR static metadata the first frame carries ("mastering display", "content light level")."""
    field_order: int = 0
    """The field order the stream declares (FFmpeg's AVFieldOrder: 0 unknown, 1 progressive, 2–5 interlaced)."""
    first_frame_interlaced: bool = False
    """Whether the first frame is flagged interlaced (DV's are, in a stream that declares no field order)."""


def file_url(path: Path | str) -> str:
    """`path` as FFmpeg must be given it to read it as a file: absolute (FFmpeg takes what comes
    before a colon in a relative name for a protocol: "file:y.mp4" opened y.mp4, "10:30.mp4" found
    no protocol "10"), with its ".." kept, as the system resolves them (through a symlink)."""
    return str(Path(path).absolute())


def open_input(path: Path) -> av.container.InputContainer:
    """Open a media file, turning PyAV's failures into an InputError that says what to do.

    Metadata that is not valid UTF-8 (a damaged tag) is read with replacement characters rather
    than refused: it says nothing about whether the streams can be decoded."""
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a video file: {path}")
    try:
        return av.open(file_url(path), "r", metadata_errors="replace")
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except (av.FFmpegError, ValueError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or "not a format it knows"
        raise InputError(f"{path} is not a video file FFmpeg can read ({reason.lower()})") from None


def is_cover_art(stream: av.stream.Stream) -> bool:
    """Whether `stream` is a still attached to the file (cover art: FFmpeg shows it as a video
    stream of one picture), not a video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def first_video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The container's first video stream that is not cover art; InputError if it has none (an
    audio file, say, with or without a cover)."""
    for stream in container.streams.video:
        if not is_cover_art(stream):
            return stream
    covered = " (only cover art)" if container.streams.video else ""
    raise InputError(f"{path} has no video stream{covered}")


def probe(path: Path) -> VideoInfo:
    """Read the input's header (and its first frame, for rotation). Raises InputError on unusable input."""
    with open_input(path) as container:
        stream = first_video_stream(container, path)
        ctx = stream.codec_context
        if ctx is None:
            raise InputError(f"{path}: FFmpeg has no decoder for its video stream (an unknown codec, or a damaged header)")
        if not ctx.width or not ctx.height:
            raise InputError(f"{path}: the video stream has no frame size (is it a still or damaged?)")
        field_order = ctx.field_order  # as the header (and FFmpeg's probing) says, before a frame is decoded here
        first = _first_frame_facts(container, stream)
        duration = _duration_seconds(container, stream)
        rate = stream_frame_rate(path, stream)
        return VideoInfo(
            path=path,
            format_name=container.format.name,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt or "yuv420p",
            codec=ctx.name,
            time_base=stream.time_base,
            average_rate=Fraction(rate) if rate else None,
            frame_count=stream.frames or (_estimate_frames(duration, rate)),
            duration_seconds=duration,
            colour=Colour(ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range),
            sample_aspect_ratio=stream.sample_aspect_ratio,
            rotation=first.rotation,
            audio_streams=len(container.streams.audio),
            other_streams=len(container.streams) - len(container.streams.audio) - 1,
            base_rate=Fraction(stream.guessed_rate) if stream.guessed_rate else None,
            declared_seconds=_declared_seconds(stream),
            start_pts=stream.start_time or 0,
            display_matrix=first.matrix,
            hdr_metadata=first.hdr,
            field_order=field_order,
            first_frame_interlaced=first.interlaced,
        )


HDR_SIDE_DATA = {
    av.sidedata.sidedata.Type.MASTERING_DISPLAY_METADATA: "mastering display",
    av.sidedata.sidedata.Type.CONTENT_LIGHT_LEVEL: "content light level",
}


RATE_DISAGREEMENT = 1.5
"""FFmpeg's average rate and its guess of the base rate further apart than this: one is wrong."""
RATE_SAMPLE_PACKETS = 48
"""Packets whose timestamps settle which (the spacing of the first ones)."""


def stream_frame_rate(path: Path, stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's frame rate: FFmpeg's average, unless it is far above FFmpeg's guess of the
    base rate from the timestamps (a Matroska file declaring 1 ms frames reads 1000 fps for 24:
    gaps everywhere, an output tagged 1000 fps); then whichever of the two the spacing of the
    first packets' timestamps is closer to. (An average below the base rate is a variable rate's,
    or a dropout's: the average it is.)"""
    average, guessed = stream.average_rate, stream.guessed_rate
    if not average or not guessed or average <= guessed * RATE_DISAGREEMENT:
        rate = average or guessed
        return Fraction(rate) if rate else None
    measured = _measured_rate(path)
    if measured is None:
        return Fraction(average)
    return Fraction(min((average, guessed), key=lambda rate: abs(math.log(rate / measured))))


def _measured_rate(path: Path) -> Fraction | None:
    """1 / the median spacing of the first video packets' presentation times (None: too few)."""
    pts: list[int] = []
    with open_input(path) as container:
        stream = first_video_stream(container, path)
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
                if len(pts) >= RATE_SAMPLE_PACKETS:
                    break
        except (av.FFmpegError, ValueError):
            pass  # damaged: judge on the packets read
    pts.sort()
    steps = sorted(b - a for a, b in zip(pts, pts[1:]) if b > a)
    if len(steps) < 2 or not stream.time_base:
        return None
    return 1 / (steps[len(steps) // 2] * Fraction(stream.time_base))


class FirstFrame(NamedTuple):
    rotation: int
    """Degrees counter-clockwise."""
    matrix: tuple[int, ...] | None
    """Its display matrix, None without one."""
    hdr: tuple[str, ...]
    """HDR_SIDE_DATA's names of the HDR static metadata it carries."""
    interlaced: bool


def _first_frame_facts(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> FirstFrame:
    """What only the first frame says (nothing, where none decodes)."""
    try:
        for frame in container.decode(stream):
            types = [side.type for side in frame.side_data]
            matrices = [bytes(side) for side in frame.side_data if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX]
            matrix = struct.unpack("<9i", matrices[0]) if matrices and len(matrices[0]) == 36 else None
            hdr = tuple(name for kind, name in HDR_SIDE_DATA.items() if kind in types)
            return FirstFrame(int(frame.rotation or 0), matrix, hdr, bool(frame.interlaced_frame))
    except (av.FFmpegError, ValueError):
        pass
    return FirstFrame(0, None, (), False)


def _duration_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _declared_seconds(stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")  # Matroska: "00:00:01.021000000"
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tag or "")
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _estimate_frames(duration: float | None, rate: Fraction | None) -> int | None:
    if duration is None or not rate:
        return None
    return max(1, math.ceil(duration * float(rate) - 0.5))


def frame_duration(info: VideoInfo) -> int:
    """One frame's duration in time-base units (for frames that come without a timestamp)."""
    if not info.average_rate:
        return 1
    return max(1, round(1 / (info.average_rate * info.time_base)))
