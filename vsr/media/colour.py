"""What colours a video's YUV values stand for, as players read them, and the conversion to BT.709.

An untagged video is shown as players guess it from its size (mpv, browsers, VLC): BT.709 from
1280 wide or above 576 lines, else BT.601. Upscaling an untagged SD video makes it HD, so the same
YUV values would be shown with the other matrix and the colours would shift. `shown_colour` gives
what the source is read as, field by field (a tag that is present wins), and the output is tagged
with it explicitly:

    shown_colour(Colour(2, 2, 2, 0), 720, 576, "yuv420p")  # Colour(5, 6, 5, 1): BT.601 625-line, limited

`to_bt709_matrix` is the FFmpeg `colorspace` filter that converts such frames to the BT.709 matrix
for players that ignore tags (and assume BT.709 for HD). Only the matrix changes: the primaries
and transfer stay the source's (BT.601's and BT.709's differ by less than players' own guesses,
and a gamut conversion would need the source's primaries to be right, which untagged ones are not).
"""

from __future__ import annotations

import av

from vsr.media.probe import Colour

# FFmpeg's enum values (AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace, AVColorRange)
RGB = 0
"""The matrix of RGB (GBR) frames: there is none."""
BT709 = 1
UNSPECIFIED = 2
RESERVED = 3
BT470BG = 5
"""Primaries and matrix of BT.601 625-line (PAL/SECAM)."""
SMPTE170M = 6
"""Primaries, transfer and matrix of BT.601 525-line (NTSC); the transfer is BT.709's curve."""
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
RANGE_NAMES = {RANGE_LIMITED: "tv", RANGE_FULL: "pc"}
"""FFmpeg's names of the ranges, as its filters take them."""

MATRIX_NAMES = {0: "rgb", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}


def is_hd(width: int, height: int) -> bool:
    """The players' rule for an untagged video: HD (BT.709) from 1280 wide or above 576 lines."""
    return width >= 1280 or height > 576


def is_625_line(height: int) -> bool:
    """SD heights from a 625-line (PAL/SECAM) system: 487–576 lines, and 288 (CIF); the rest 525-line
    (486 lines is NTSC's whole picture, as SDI and v210 captures hold it)."""
    return 486 < height <= 576 or height == 288


def guessed_colour(width: int, height: int, pix_fmt: str) -> Colour:
    """How players read an untagged `width`x`height` video: BT.709 for HD; for SD BT.601 with the
    525-line (smpte170m) or 625-line (bt470bg) primaries by its height; limited range except for
    the full-range "yuvj" formats."""
    colour_range = RANGE_FULL if pix_fmt.startswith("yuvj") else RANGE_LIMITED
    if is_hd(width, height):
        return Colour(BT709, BT709, BT709, colour_range)
    system = BT470BG if is_625_line(height) else SMPTE170M
    return Colour(primaries=system, transfer=SMPTE170M, matrix=system, range=colour_range)


def holds_rgb(pix_fmt: str | av.VideoFormat) -> bool:
    """Whether frames of `pix_fmt` (a name, or a frame's own format: no lookup per frame) hold RGB
    samples: RGB formats, and palettes (GIF, PNG, APNG), whose entries are RGB colours (FFmpeg
    does not count them as RGB)."""
    fmt = av.VideoFormat(pix_fmt) if isinstance(pix_fmt, str) else pix_fmt
    return fmt.is_rgb or fmt.has_palette


def shown_colour(colour: Colour, width: int, height: int, pix_fmt: str) -> Colour:
    """`colour` with each unspecified field filled as players guess it (`guessed_colour`). RGB
    frames (`pix_fmt`) become limited-range YUV by FFmpeg's default conversion, BT.601's matrix
    (`rgb_to_yuv_range`; a filter graph's own conversion gives the same), and are read so; the RGB
    "matrix" on YUV frames is a wrong tag, read as unspecified."""
    guess = guessed_colour(width, height, pix_fmt)
    primaries = guess.primaries if colour.primaries in (0, UNSPECIFIED, RESERVED) else colour.primaries
    transfer = guess.transfer if colour.transfer in (0, UNSPECIFIED, RESERVED) else colour.transfer
    if holds_rgb(pix_fmt):
        return Colour(primaries, transfer, SMPTE170M, RANGE_LIMITED)
    return Colour(
        primaries=primaries,
        transfer=transfer,
        matrix=guess.matrix if colour.matrix in (RGB, UNSPECIFIED, RESERVED) else colour.matrix,
        range=guess.range if colour.range == RANGE_UNSPECIFIED else colour.range,
    )


def encoded_range(colour: Colour, layout_pix_fmt: str) -> int:
    """The range of the frames the encoder gets in `layout_pix_fmt`, from frames read as `colour`:
    full in the "yuvj" formats and in grey (FFmpeg's grey runs from 0 black to 255 white; a grey
    source into a YUV layout is converted to limited range), else the source's."""
    return RANGE_FULL if layout_pix_fmt.startswith(("yuvj", "gray")) else colour.range


def rgb_to_yuv_range(layout_pix_fmt: str) -> int:
    """The range RGB frames are converted to for `layout_pix_fmt`: limited unless a "yuvj" format."""
    return RANGE_FULL if layout_pix_fmt.startswith("yuvj") else RANGE_LIMITED


def to_bt709_matrix(colour: Colour) -> tuple[str, Colour]:
    """The FFmpeg `colorspace` filter (one chain element, "" when there is nothing to do) that
    converts frames standing for `colour` (fully specified, see `shown_colour`) to the BT.709
    matrix in the same range, and the colour the frames then stand for."""
    if colour.matrix == BT709:
        return "", colour
    converted = Colour(primaries=colour.primaries, transfer=colour.transfer, matrix=BT709, range=colour.range)
    same = f"iprimaries={colour.primaries}:primaries={colour.primaries}:itrc={colour.transfer}:trc={colour.transfer}"
    return (
        f"colorspace=ispace={colour.matrix}:space={BT709}:{same}:irange={colour.range}:range={colour.range}",
        converted,
    )


def describe(colour: Colour) -> str:
    """A short name for the log: "bt709", "smpte170m", ... (the matrix) and the range."""
    matrix = MATRIX_NAMES.get(colour.matrix, str(colour.matrix))
    return f"{matrix} {'full' if colour.range == RANGE_FULL else 'limited'} range"
