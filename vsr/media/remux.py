"""Joining encoded video parts into one output without re-encoding: the parts' video packets in
order, timestamps as they are (each part keeps the source's pts), and the source's audio and
subtitle streams copied once beside them (the stream mapping of vsr.media.mux)."""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import OutputError, PipelineError
from vsr.media.encode import tag_for_apple
from vsr.media.frames import Passthrough
from vsr.media.mux import (
    Muxer, close_quietly, copy_container_metadata, open_output, set_up_streams, system_reason, video_shift,
)
from vsr.media.probe import first_video_stream, open_input

STAGE = "join"
"""The stage named by the PipelineErrors of a join."""

MAX_PENDING_DTS = 64
"""Packets at the start of a part that may lack a dts (the encoder's reordering delay)."""


def join_video_parts(
    source: Path, parts: Sequence[Path], temp: Path, container: str, frame_rate: Fraction | None = None,
) -> int:
    """Write `temp` (FFmpeg format `container`): the video packets of `parts` one part after the
    other, and the audio and subtitle packets of `source` (copied, or transcoded where the
    container cannot hold them, as vsr.media.mux.map_streams decides), interleaved by time; the
    video stream says `frame_rate` (default: the first part's).
    Returns the video packets written. Raises PipelineError (stage "join") when there is no part,
    a part's codec or extradata differs from the first part's, or the decoding times do not
    strictly increase across the parts; InputError/OutputError as opening the files raises them, and
    OutputError when the file cannot be written (a full disk)."""
    if not parts:
        raise PipelineError(STAGE, "no segment to join")
    with open_input(parts[0]) as first, open_input(source) as templates:
        model = first_video_stream(first, parts[0])
        output = open_output(temp, container)
        video, streams = set_up_streams(
            templates, output, container, model.codec_context.name, lambda: _video_stream_like(output, model, frame_rate),
        )
        copy_container_metadata(templates, output)
        source_video = first_video_stream(templates, source)
        shift = video_shift(source_video.start_time or 0, source_video.time_base, templates, streams.kept)
        muxer = Muxer(output, video, streams, shift=shift)
        try:
            expected = _signature(model)
            timed = heapq.merge(
                _video_packets(parts, expected),
                _timed(_other_packets(source, streams.kept)),
                key=lambda entry: entry[0],
            )
            for _, item in timed:
                with _writing(temp):
                    if isinstance(item, Passthrough):
                        muxer.write_passthrough(item)
                    else:
                        muxer.write_video_packet(item)
            with _writing(temp):
                muxer.finish()
        except BaseException:
            close_quietly(output)
            raise
    return muxer.frames


@contextlib.contextmanager
def _writing(temp: Path) -> Iterator[None]:
    """An OSError of the write within (a full disk, a file-size limit) as an OutputError."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write the joined output in {temp.parent}: {system_reason(exc)}") from None


def _video_stream_like(
    output: av.container.OutputContainer, model: av.video.stream.VideoStream, frame_rate: Fraction | None,
) -> av.video.stream.VideoStream:
    """A video stream for the parts' packets: the first part's, with `frame_rate` (else the part's),
    which a template does not carry (Matroska would write 1 ms as the frame duration)."""
    # opaque: the packets are copied, so no encoder is looked up (by the decoder's name: libdav1d for AV1)
    stream = output.add_stream_from_template(model, opaque=True)
    tag_for_apple(output, stream)  # the template's tag is not carried
    if model.sample_aspect_ratio:  # nor an MP4 part's aspect ratio, which its reader puts on the stream
        stream.codec_context.sample_aspect_ratio = model.sample_aspect_ratio
    if frame_rate or model.average_rate:
        stream.codec_context.framerate = frame_rate or model.average_rate
    return stream


def _signature(stream: av.video.stream.VideoStream) -> tuple[str, bytes]:
    """What every part must share to be joined: the codec and its extradata (SPS/PPS and the like)."""
    context = stream.codec_context
    return context.name, bytes(context.extradata or b"")


def _video_packets(parts: Sequence[Path], expected: tuple[str, bytes]) -> Iterator[tuple[Fraction, av.Packet]]:
    """Every non-empty video packet of `parts` with its decoding time in seconds, part by part in
    decode order, each part checked against `expected` (_signature) and every packet's decoding
    time against the previous one's."""
    last: Fraction | None = None
    for number, part in enumerate(parts):
        with open_input(part) as container:
            video = first_video_stream(container, part)
            if _signature(video) != expected:
                raise PipelineError(
                    STAGE, f"segment {number} ({part.name}) was encoded differently from segment 0 "
                    "(another codec or other codec extradata): the segments cannot be joined",
                )
            for packet in _with_dts(p for p in container.demux(video) if p.size):
                time = _decoding_time(packet)
                if (last is not None and time <= last) or (packet.pts is not None and packet.dts > packet.pts):
                    raise PipelineError(
                        STAGE, f"segment {number} ({part.name}): decoding time {float(time):.4f} s does not come "
                        f"after {float(last or 0):.4f} s (the segments overlap or are out of order)",
                    )
                last = time
                yield time, packet


def _with_dts(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """The packets of one part in decode order, each with a dts. Matroska stores none, and its
    demuxer leaves the first packets of a stream with B-frames without (their dts would come
    before the first pts): those get their own pts where that keeps the order, else the first
    known dts minus 1, 2, ... ticks (_dts_before); a packet without one later on, the previous dts plus a tick. Where no packet
    has one (no reordering), dts = pts."""
    pending: list[av.Packet] = []
    previous: int | None = None
    for packet in packets:
        if packet.dts is None and previous is None:
            pending.append(packet)
            if len(pending) > MAX_PENDING_DTS:
                raise PipelineError(STAGE, f"{MAX_PENDING_DTS} packets without a decoding time: the parts cannot be joined")
            continue
        if packet.dts is None:
            packet.dts = previous + 1
        yield from _dts_before(pending, packet.dts)
        pending = []
        previous = packet.dts
        yield packet
    for waiting in pending:
        waiting.dts = waiting.pts
        yield waiting


def _dts_before(pending: list[av.Packet], first_dts: int) -> list[av.Packet]:
    """`pending` (the packets before the first with a dts) with the dts that lead up to `first_dts`:
    their pts where those rise and come before it (no reordering: a slideshow's first frames, whose
    dts Matroska's demuxer leaves out too), else `first_dts` minus 1, 2, ... ticks."""
    stepped = [first_dts - (len(pending) - behind) for behind in range(len(pending))]
    own = [min(packet.pts, step) if packet.pts is not None else step for packet, step in zip(pending, stepped)]
    chosen = own if all(a < b for a, b in zip(own, [*own[1:], first_dts])) else stepped
    for packet, dts in zip(pending, chosen):
        packet.dts = dts
    return pending


def _other_packets(source: Path, streams: list[int]) -> Iterator[Passthrough]:
    """The non-empty packets of `source`'s streams `streams` (audio, subtitles) in file order."""
    if not streams:
        return
    with open_input(source) as container:
        for packet in container.demux([container.streams[i] for i in streams]):
            if packet.size:
                yield Passthrough(packet.stream.index, packet)


def _timed(items: Iterator[Passthrough]) -> Iterator[tuple[Fraction, Passthrough]]:
    """Each item with its decoding time in seconds, the key the streams are interleaved by."""
    for item in items:
        yield _decoding_time(item.packet), item


def _decoding_time(packet: av.Packet) -> Fraction:
    """The packet's dts (its pts where there is none; 0 where neither) in seconds."""
    ticks = packet.dts if packet.dts is not None else packet.pts
    return (ticks or 0) * Fraction(packet.time_base)

