"""What flows between the stages: decoded frames as YUV planes, and packets to copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Planar layouts the pipeline works in: pixel format → (horizontal, vertical) chroma subsampling,
# None for luma only. The full-range "yuvj" formats share their plane layout with "yuv".
PLANAR_LAYOUTS: dict[str, tuple[int, int] | None] = {
    "yuv420p": (2, 2),
    "yuv422p": (2, 1),
    "yuv444p": (1, 1),
    "yuvj420p": (2, 2),
    "yuvj422p": (2, 1),
    "yuvj444p": (1, 1),
    "gray": None,
    "yuv420p10le": (2, 2),
    "yuv422p10le": (2, 1),
    "yuv444p10le": (1, 1),
    "gray10le": None,
}


@dataclass(frozen=True)
class Layout:
    """How a frame's samples are laid out in planes: the pixel format the pipeline works and encodes in."""

    pix_fmt: str

    def __post_init__(self) -> None:
        if self.pix_fmt not in PLANAR_LAYOUTS:
            raise ValueError(f"unsupported pixel format {self.pix_fmt!r}; use one of {', '.join(PLANAR_LAYOUTS)}")

    @property
    def subsampling(self) -> tuple[int, int] | None:
        return PLANAR_LAYOUTS[self.pix_fmt]

    @property
    def bit_depth(self) -> int:
        return 10 if self.pix_fmt.endswith("10le") else 8

    @property
    def dtype(self) -> type[np.generic]:
        return np.uint16 if self.bit_depth > 8 else np.uint8

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    def plane_sizes(self, width: int, height: int) -> list[tuple[int, int]]:
        """(width, height) of each plane of a frame of this size."""
        sizes = [(width, height)]
        if self.subsampling is not None:
            sx, sy = self.subsampling
            chroma = (-(-width // sx), -(-height // sy))
            sizes += [chroma, chroma]
        return sizes

    def even_size(self, width: int, height: int) -> tuple[int, int]:
        """The smallest size ≥ (width, height) that the chroma subsampling allows for encoding."""
        if self.subsampling is None:
            return width, height
        sx, sy = self.subsampling
        return width + (-width) % sx, height + (-height) % sy

    def same_planes(self, pix_fmt: str) -> bool:
        """True if a frame in `pix_fmt` has this layout's planes (yuvj420p and yuv420p do)."""
        return pix_fmt.replace("yuvj", "yuv") == self.pix_fmt.replace("yuvj", "yuv")


def plane_rows(plane: Any, dtype: type[np.generic]) -> np.ndarray:
    """A 2-D view of a PyAV plane's memory, line padding included (no copy; writable if the plane is)."""
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // itemsize)


@dataclass
class VideoItem:
    """One decoded frame: its planes (Y first), its timestamp in the stream's time base and its index."""

    index: int
    pts: int
    duration: int
    planes: list[np.ndarray]
    keepalive: Any = field(default=None, repr=False)
    """The decoded frame whose memory `planes` view, kept until the planes are used."""


@dataclass
class Passthrough:
    """A packet of a non-video stream (audio, subtitles) to be copied, or transcoded, by the writer.

    `stream_index` is the input stream's index, read at demux time: the reader's container (and
    with it `packet.stream`) may be closed before the writer gets to the packet.
    """

    stream_index: int
    packet: Any
