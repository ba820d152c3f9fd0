"""The video stream's packet index, read without decoding: every frame's presentation time and
which frames are keyframes (where a decoder can start)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

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
        starts = _start_checker(video)
        for packet in container.demux(video):
            if packet.pts is None:
                continue  # the flushing packet at the end, or a damaged one
            if packet.is_keyframe and starts(bytes(packet)):
                keyframes.append(packet.pts)
            if not packet.is_discard:  # an MP4 edit list hides it (a cut made with ffmpeg -ss -c copy): no frame shown
                pts.append(packet.pts)
        return PacketIndex(tuple(sorted(pts)), tuple(sorted(keyframes)), Fraction(video.time_base))


def _start_checker(video: av.video.stream.VideoStream) -> Callable[[bytes], bool]:
    """Whether a keyframe packet of `video` is one a decoder can start from. FFmpeg flags H.264's
    and HEVC's recovery points as keyframes too: with periodic intra refresh (x264's
    --intra-refresh: no I-frame after the first) they are P-frames, and a decoder started there
    loses the frames until the picture has been refreshed. So for those codecs the first slice
    must be intra (H.264: an IDR, or an I or SI slice; HEVC: an IRAP picture); for others, the flag."""
    codec = video.codec_context.name if video.codec_context else ""
    if codec not in ("h264", "hevc"):
        return lambda _payload: True
    length_size = _length_size(codec, bytes(video.codec_context.extradata or b""))
    intra = _h264_intra if codec == "h264" else _hevc_intra

    def starts(payload: bytes) -> bool:
        try:
            for unit in _nal_units(payload, length_size):
                verdict = intra(unit)
                if verdict is not None:
                    return verdict
        except ValueError:  # a damaged slice header: the flag is all there is
            pass
        return True  # no slice found: trust the flag

    return starts


def _length_size(codec: str, extradata: bytes) -> int | None:
    """The NAL length prefix of an avcC/hvcC record (MP4, Matroska), as FFmpeg tells one; None
    for Annex B (start codes: MPEG-TS, AVI, or no extradata). HEVC's record may say version 0
    (early encoders), which FFmpeg takes too."""
    if codec == "h264" and len(extradata) > 4 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 22 and (extradata[0] or extradata[1] or extradata[2] > 1):
        return (extradata[21] & 3) + 1
    return None


def _nal_units(payload: bytes, length_size: int | None) -> Iterator[bytes]:
    """The NAL units of a packet: length-prefixed (MP4/Matroska) or after start codes (MPEG-TS)."""
    if length_size is not None:
        position = 0
        while position + length_size <= len(payload):
            size = int.from_bytes(payload[position:position + length_size], "big")
            position += length_size
            yield payload[position:position + size]
            position += size
        return
    for unit in payload.split(b"\x00\x00\x01")[1:]:  # what comes before the first start code is no unit
        if unit:
            yield unit.rstrip(b"\x00")


def _h264_intra(unit: bytes) -> bool | None:
    """For a slice NAL unit, whether it is intra (IDR, or slice_type I/SI); None for another unit."""
    kind = unit[0] & 0x1F if unit else 0
    if kind == 5:
        return True
    if kind != 1:
        return None
    bits = _Bits(unit[1:16].replace(b"\x00\x00\x03", b"\x00\x00"))
    bits.golomb()  # first_mb_in_slice
    return bits.golomb() % 5 in (2, 4)


def _hevc_intra(unit: bytes) -> bool | None:
    """For a slice NAL unit (types 0-31), whether it starts an IRAP picture (16-23); None otherwise."""
    kind = (unit[0] >> 1) & 0x3F if unit else 63
    return None if kind > 31 else 16 <= kind <= 23


class _Bits:
    """An unsigned Exp-Golomb reader over the first bytes of a slice header."""

    def __init__(self, data: bytes) -> None:
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data)

    def bit(self) -> int:
        if self.left <= 0:
            raise ValueError("slice header cut short")
        self.left -= 1
        return (self.value >> self.left) & 1

    def golomb(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        return (1 << zeros) - 1 + sum(self.bit() << (zeros - 1 - i) for i in range(zeros))
