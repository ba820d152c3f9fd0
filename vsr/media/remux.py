"""Joining encoded video parts into one output without re-encoding: the parts' video packets in
order, timestamps as they are (each part keeps the source's pts), and the source's audio and
subtitle streams copied once beside them (the stream mapping of vsr.media.mux)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import PipelineError
from vsr.media.frames import Passthrough
from vsr.media.mux import Muxer, close_quietly, open_output, set_up_streams
from vsr.media.probe import first_video_stream, open_input

STAGE = "join"
"""The stage named by the PipelineErrors of a join."""


def join_video_parts(source: Path, parts: Sequence[Path], temp: Path, container: str) -> int:
    """Write `temp` (FFmpeg format `container`): the video packets of `parts` one part after the
    other, and the audio and subtitle packets of `source` (copied, or transcoded where the
    container cannot hold them, as vsr.media.mux.map_streams decides), interleaved by time.
    Returns the video packets written. Raises PipelineError (stage "join") when there is no part,
    a part's codec or extradata differs from the first part's, or the decoding times do not
    strictly increase across the parts; InputError/OutputError as opening the files raises them."""
    if not parts:
        raise PipelineError(STAGE, "no segment to join")
    with open_input(parts[0]) as first, open_input(source) as templates:
        model = first_video_stream(first, parts[0])
        output = open_output(temp, container)
        video, streams = set_up_streams(
            templates, output, container, model.codec_context.name, lambda: output.add_stream_from_template(model),
        )
        muxer = Muxer(output, video, streams)
        try:
            expected = _signature(model)
            timed = heapq.merge(
                _timed(_video_packets(parts, expected)),
                _timed(_other_packets(source, streams.kept)),
                key=lambda entry: entry[0],
            )
            for _, item in timed:
                if isinstance(item, Passthrough):
                    muxer.write_passthrough(item)
                else:
                    muxer.write_video_packet(item)
            muxer.finish()
        except BaseException:
            close_quietly(output)
            raise
    return muxer.frames


def _signature(stream: av.video.stream.VideoStream) -> tuple[str, bytes]:
    """What every part must share to be joined: the codec and its extradata (SPS/PPS and the like)."""
    context = stream.codec_context
    return context.name, bytes(context.extradata or b"")


def _video_packets(parts: Sequence[Path], expected: tuple[str, bytes]) -> Iterator[av.Packet]:
    """Every non-empty video packet of `parts`, part by part in decode order, each part checked
    against `expected` (_signature) and every packet's decoding time against the previous one's."""
    last: Fraction | None = None
    for number, part in enumerate(parts):
        with open_input(part) as container:
            video = first_video_stream(container, part)
            if _signature(video) != expected:
                raise PipelineError(
                    STAGE, f"segment {number} ({part.name}) was encoded differently from segment 0 "
                    "(another codec or other codec extradata): the segments cannot be joined",
                )
            for packet in container.demux(video):
                if not packet.size:
                    continue
                time = _decoding_time(packet)
                if last is not None and time <= last:
                    raise PipelineError(
                        STAGE, f"segment {number} ({part.name}): decoding time {float(time):.4f} s does not come "
                        f"after {float(last):.4f} s (the segments overlap or are out of order)",
                    )
                last = time
                yield packet


def _other_packets(source: Path, streams: list[int]) -> Iterator[Passthrough]:
    """The non-empty packets of `source`'s streams `streams` (audio, subtitles) in file order."""
    if not streams:
        return
    with open_input(source) as container:
        for packet in container.demux([container.streams[i] for i in streams]):
            if packet.size:
                yield Passthrough(packet.stream.index, packet)


def _timed(items: Iterator[av.Packet] | Iterator[Passthrough]) -> Iterator[tuple[Fraction, av.Packet | Passthrough]]:
    """Each item with its decoding time in seconds, the key the streams are interleaved by."""
    for item in items:
        packet = item.packet if isinstance(item, Passthrough) else item
        yield _decoding_time(packet), item


def _decoding_time(packet: av.Packet) -> Fraction:
    """The packet's dts (its pts where there is none; 0 where neither) in seconds."""
    ticks = packet.dts if packet.dts is not None else packet.pts
    return (ticks or 0) * Fraction(packet.time_base)

