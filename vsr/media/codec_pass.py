"""A real codec pass in memory: luma frames → encoder → decoder → luma frames, no container, no
file. Training degradations use it so that a model sees the artefacts of libx264, MPEG-2 and
MPEG-4 Part 2 as they really are (blocking, ringing, P/B-frame drift), not an imitation."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

from vsr.errors import ConfigError
from vsr.media.frames import plane_rows

DECODERS = {"libx264": "h264", "mpeg2video": "mpeg2video", "mpeg4": "mpeg4"}
"""The encoders a codec pass may use, and the decoder of each one's stream."""

FRAME_RATE = Fraction(25)


def codec_round_trip(
    frames: Sequence[np.ndarray], codec: str, *, crf: int | None = None, bitrate: int | None = None,
    preset: str | None = None,
) -> list[np.ndarray]:
    """Encode `frames` ((h, w) uint8 luma planes of one size, h and w even) as a 4:2:0 clip with
    neutral chroma at 25 fps, decode it, and return the decoded luma planes, one per input frame.

    `crf` (x264) or `bitrate` (bits per second) sets the quality; `preset` is x264's. Raises
    ConfigError for an encoder not in DECODERS or an odd size, ValueError if the decoder returns
    another frame count (it never should)."""
    if codec not in DECODERS:
        raise ConfigError(f"codec pass: unknown codec {codec!r}; use one of {', '.join(DECODERS)}")
    height, width = frames[0].shape
    if height % 2 or width % 2:
        raise ConfigError(f"codec pass: frame size {width}x{height} must be even")
    encoder = _encoder(codec, width, height, crf=crf, bitrate=bitrate, preset=preset)
    decoder = av.CodecContext.create(DECODERS[codec], "r")
    decoded: list[np.ndarray] = []
    for index, plane in enumerate([*frames, None]):
        frame = None if plane is None else _frame(plane, index)
        for packet in encoder.encode(frame):
            # a copy: handing the encoder's packet straight to the decoder made the output vary from
            # run to run about ten times as often as libx264 alone does (about 1 in 60 on tiny clips)
            decoded += [_luma(f, width, height) for f in decoder.decode(av.Packet(bytes(packet)))]
    decoded += [_luma(f, width, height) for f in decoder.decode(None)]
    if len(decoded) != len(frames):
        raise ValueError(f"codec pass through {codec} returned {len(decoded)} frames for {len(frames)}")
    return decoded


def _encoder(codec: str, width: int, height: int, *, crf: int | None, bitrate: int | None,
             preset: str | None) -> av.CodecContext:
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / FRAME_RATE, FRAME_RATE
    options: dict[str, str] = {}
    if bitrate is not None:
        encoder.bit_rate = int(bitrate)
    elif crf is not None:
        options["crf"] = str(crf)
    if preset is not None and codec == "libx264":
        options["preset"] = preset
    if codec == "libx264":
        options["x264-params"] = "log-level=none"
    encoder.options = options
    encoder.open()
    return encoder


def _frame(plane: np.ndarray, index: int) -> av.VideoFrame:
    height, width = plane.shape
    frame = av.VideoFrame(width, height, "yuv420p")
    plane_rows(frame.planes[0], np.uint8)[:height, :width] = plane
    for chroma in frame.planes[1:]:
        plane_rows(chroma, np.uint8)[:] = 128
    frame.pts = index
    frame.time_base = 1 / FRAME_RATE
    return frame


def _luma(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    return plane_rows(frame.planes[0], np.uint8)[:height, :width].copy()
