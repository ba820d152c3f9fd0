"""The video stream's packet index, read without decoding: every frame's presentation time and
which frames are keyframes (where a decoder can start)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vsr.media.probe import first_video_stream, open_input


@dataclass(frozen=True)
class PacketIndex:
    """pts: every video packet's presentation time, sorted (packets come in decode order, and
    B-frames make that differ from presentation order), of the frames shown (an MP4 edit list can
    hide the first ones: decoded, but not shown); keyframes: the sorted pts of the keyframe packets,
    hidden ones included (where a decoder starts); both in `time_base` units. Packets without a pts
    are left out."""

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction


def read_packet_index(path: Path) -> PacketIndex:
    """Demux `path`'s first video stream (no decoding). Raises InputError if it cannot be opened or
    has no video stream."""
    with open_input(path) as container:
        video = first_video_stream(container, path)
        pts: list[int] = []
        keyframes: list[int] = []
        for packet in container.demux(video):
            if packet.pts is None:
                continue  # the flushing packet at the end, or a damaged one
            if packet.is_keyframe:
                keyframes.append(packet.pts)
            if not packet.is_discard:  # an MP4 edit list hides it (a cut made with ffmpeg -ss -c copy): no frame shown
                pts.append(packet.pts)
        return PacketIndex(tuple(sorted(pts)), tuple(sorted(keyframes)), Fraction(video.time_base))
