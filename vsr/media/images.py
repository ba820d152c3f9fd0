"""Still image files: which suffixes vsr treats as images rather than videos."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np


@dataclass(frozen=True)
class StillFormat:
    """What OpenCV writes in one still format: the sample types it holds (deepest integer first),
    whether it keeps an alpha channel, and the most pixels a side it takes."""

    name: str
    depths: tuple[str, ...]
    alpha: bool
    max_side: int | None = None


_PNG = StillFormat("PNG", ("uint16", "uint8"), alpha=True)
_JPEG = StillFormat("JPEG", ("uint8",), alpha=False, max_side=65500)
_TIFF = StillFormat("TIFF", ("uint16", "uint8", "float32"), alpha=True)
STILL_FORMATS = {
    ".png": _PNG, ".jpg": _JPEG, ".jpeg": _JPEG, ".jpe": _JPEG, ".bmp": StillFormat("BMP", ("uint8",), alpha=True),
    ".tif": _TIFF, ".tiff": _TIFF, ".webp": StillFormat("WebP", ("uint8",), alpha=True, max_side=16383),
}
IMAGE_SUFFIXES = tuple(STILL_FORMATS)
"""Still images that OpenCV reads and writes (lower case)."""
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
TIFF_SUFFIXES = (".tif", ".tiff")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_ICC_MARK = b"ICC_PROFILE\x00"
JPEG_ICC_CHUNK = 65535 - 2 - 14
"""Bytes of profile per APP2 segment: its length field counts 2 bytes, the mark and numbering 14."""
ICC_SUFFIXES = (".png", *JPEG_SUFFIXES, ".webp")
"""Still images whose ICC profile (a colour space other than sRGB: Adobe RGB, Display P3, a
camera's) is carried from input to output."""


def read_icc_profile(path: Path) -> bytes | None:
    """The ICC profile embedded in a PNG (iCCP chunk), JPEG (APP2 segments), WebP (ICCP chunk) or
    TIFF (tag 34675) file, told by its content (a WebP named .png keeps its profile), or None."""
    with open(path, "rb") as file:
        head = file.read(12)
        if head[8:12] == b"WEBP":
            file.seek(0)
            for kind, size in _webp_chunks(file):
                if kind == b"ICCP":
                    return file.read(size)
                if kind in WEBP_PICTURES:
                    break
            return None
        if head.startswith(b"\xff\xd8"):
            parts = sorted((body[12], body[14:]) for _, body in _jpeg_segments(file, {0xE2})
                           if body.startswith(JPEG_ICC_MARK))
            return b"".join(part for _, part in parts) or None
    if not head.startswith((PNG_SIGNATURE, b"II*\x00", b"MM\x00*")):
        return None  # a BMP holds none here: not read whole for nothing
    data = path.read_bytes()
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_icc_profile(data)
    if data.startswith(PNG_SIGNATURE):
        for kind, body in _png_chunks(data):
            if kind == b"iCCP":
                name_end = body.index(b"\x00")
                return zlib.decompress(body[name_end + 2 :])
    return None


TIFF_ICC_TAG, TIFF_PHOTOMETRIC, TIFF_SAMPLES_PER_PIXEL = 34675, 262, 277


def _tiff_icc_profile(data: bytes) -> bytes | None:
    """The ICC profile of a TIFF's first page (tag 34675 of its first directory), or None."""
    for tag, count, value, order in _first_directory(data):
        if tag == TIFF_ICC_TAG:
            if count <= 4:
                return value[:count]
            start = int.from_bytes(value, order)
            profile = data[start : start + count]
            return profile if len(profile) == count else None
    return None


def _first_directory(data: bytes) -> Iterator[tuple[int, int, bytes, str]]:
    """(tag, count, value field, byte order) of each entry of the first directory of a classic TIFF
    structure (a TIFF file, an EXIF block); nothing for anything else (BigTIFF included)."""
    order = {b"II": "little", b"MM": "big"}.get(data[:2])
    if order is None or len(data) < 8 or int.from_bytes(data[2:4], order) != 42:
        return
    directory = int.from_bytes(data[4:8], order)
    entries = int.from_bytes(data[directory : directory + 2], order)
    for entry in range(directory + 2, directory + 2 + 12 * entries, 12):
        if entry + 12 > len(data):
            return
        yield (int.from_bytes(data[entry : entry + 2], order), int.from_bytes(data[entry + 4 : entry + 8], order),
               data[entry + 8 : entry + 12], order)


TIFF_ORIENTATION_TAG = 274


def tiff_turned_upright(path: Path) -> tuple[bytearray, int] | None:
    """A TIFF whose orientation tag turns it about a diagonal (5–8: a rotated scan, a camera's TIFF),
    as (its bytes with the tag set to 1, the orientation it had): OpenCV 5 cannot decode those
    ("Internal imread issue"), so the picture is read as stored and turned by `upright`. None for
    any other file (only its first directory is read then, not the file)."""
    try:
        with path.open("rb") as file:
            head = file.read(8)
            order = {b"II": "little", b"MM": "big"}.get(head[:2])
            if order is None or len(head) < 8 or int.from_bytes(head[2:4], order) != 42:  # BigTIFF (43) is not read
                return None
            directory = int.from_bytes(head[4:8], order)
            file.seek(directory)
            count = int.from_bytes(file.read(2), order)
            entries = file.read(12 * count)
            for index in range(len(entries) // 12):
                entry = entries[12 * index : 12 * index + 12]
                size = {3: 2, 4: 4}.get(int.from_bytes(entry[2:4], order))  # SHORT or LONG, its value left-justified
                if int.from_bytes(entry[:2], order) != TIFF_ORIENTATION_TAG or size is None:
                    continue
                orientation = int.from_bytes(entry[8 : 8 + size], order)
                if int.from_bytes(entry[4:8], order) == 1 and 5 <= orientation <= 8:
                    field = directory + 2 + 12 * index + 8
                    file.seek(0)
                    data = bytearray(file.read())  # patched in place: the file once in memory, not thrice
                    data[field : field + size] = (1).to_bytes(size, order)
                    return data, orientation
    except OSError:
        return None
    return None


PNG_COLOUR_CHUNKS = (b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCv", b"cLLi")
"""A PNG's colour chunks other than its ICC profile: its gamma, its primaries, "sRGB", and (PNG's
third edition) its coding-independent code points (an HDR image's primaries, PQ or HLG transfer,
range) with the mastering display and content light levels."""
SRGB_GAMMA = 45455
"""gAMA's value for sRGB's (1 / 2.2, times 100000): what a viewer assumes without one."""


def png_colour_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(kind, body) of the PNG colour chunks (PNG_COLOUR_CHUNKS) of the file at `path`; [] for
    another format or none."""
    return [(kind, body) for kind, body in _png_header_chunks(path) if kind in PNG_COLOUR_CHUNKS]


def _png_header_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(kind, body) of the chunks before the image data of the PNG file at `path`, read chunk by chunk
    (a 70 KB XMP text before them hid the gamma after it from a read of the first 64 KiB); [] for
    another format."""
    chunks = []
    with open(path, "rb") as file:
        if file.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            return []
        while len(head := file.read(8)) == 8:
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind == b"IDAT":
                break
            body = file.read(length)
            if len(body) < length:
                break
            chunks.append((kind, body))
            file.seek(4, 1)  # its CRC
    return chunks


def changes_gamma(chunks: list[tuple[bytes, bytes]]) -> bool:
    """Whether PNG colour `chunks` make a viewer show the pixels other than as sRGB (a gamma not sRGB's)."""
    return any(kind == b"gAMA" and len(body) == 4 and abs(int.from_bytes(body, "big") - SRGB_GAMMA) > SRGB_GAMMA // 100
               for kind, body in chunks)


SRGB_CHROMATICITIES = (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
"""cHRM's values for sRGB's white point and primaries (times 100000): what a viewer assumes without one."""


def changes_primaries(chunks: list[tuple[bytes, bytes]]) -> bool:
    """Whether PNG colour `chunks` give primaries other than sRGB's (a wide-gamut picture, cHRM)."""
    return any(kind == b"cHRM" and len(body) == 32 and any(
        abs(int.from_bytes(body[4 * i : 4 * i + 4], "big") - value) > 500 for i, value in enumerate(SRGB_CHROMATICITIES))
        for kind, body in chunks)


def with_png_chunks(data: memoryview, chunks: list[tuple[bytes, bytes]]) -> list[bytes | memoryview]:
    """The pieces of the PNG file `data` with `chunks` ((kind, body)) right after its IHDR: the
    file's own bytes are sliced, not copied."""
    header_end = len(PNG_SIGNATURE) + 8 + int.from_bytes(data[8:12], "big") + 4  # IHDR comes first
    made = b"".join(len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
                    for kind, body in chunks)
    return [data[:header_end], made, data[header_end:]]


def png_icc_chunk(profile: bytes) -> tuple[bytes, bytes]:
    """The iCCP chunk (kind, body) holding `profile`."""
    return b"iCCP", b"ICC profile\x00\x00" + zlib.compress(profile)


def with_icc_profile(data: memoryview, profile: bytes) -> list[bytes | memoryview]:
    """The pieces of the PNG or JPEG file `data` (which has no profile) with `profile` in it, as its
    iCCP chunk right after IHDR, or as APP2 segments right after SOI (and JFIF's APP0): the file's
    own bytes are sliced, not copied. ValueError for another format."""
    if data[: len(PNG_SIGNATURE)] == PNG_SIGNATURE:
        return with_png_chunks(data, [png_icc_chunk(profile)])
    if data[:2] == b"\xff\xd8":
        position = 2
        if data[2:4] == b"\xff\xe0":  # JFIF's APP0 stays first
            position += 2 + int.from_bytes(data[4:6], "big")
        pieces = [profile[i : i + JPEG_ICC_CHUNK] for i in range(0, len(profile), JPEG_ICC_CHUNK)]
        segments = b"".join(
            b"\xff\xe2" + (2 + 14 + len(piece)).to_bytes(2, "big") + JPEG_ICC_MARK + bytes([n, len(pieces)]) + piece
            for n, piece in enumerate(pieces, 1)
        )
        return [data[:position], segments, data[position:]]
    raise ValueError("only PNG and JPEG files take an ICC profile here")


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        yield kind, data[position + 8 : position + 8 + length]
        if kind == b"IDAT":
            return  # iCCP must come before the image data
        position += 12 + length


START_OF_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""The JPEG markers that start a frame (its size and components): SOF0–SOF15 but DHT, JPG and DAC."""


def _jpeg_segments(file: BinaryIO, wanted: Collection[int]) -> Iterator[tuple[int, bytes]]:
    """(marker, body) of each header segment of the JPEG open as `file`, up to the start of the scan;
    the body read for the `wanted` markers only, the others skipped by seeking (an EXIF or XMP
    segment may put what is looked for far into the file). Nothing for another format."""
    file.seek(0)
    if file.read(2) != b"\xff\xd8":
        return
    while file.read(1) == b"\xff":
        marker = file.read(1)
        while marker == b"\xff":  # fill bytes
            marker = file.read(1)
        if not marker or marker == b"\xda":  # the scan starts
            return
        length = int.from_bytes(file.read(2), "big")
        if length < 2:  # damaged: no seeking backwards
            return
        if marker[0] in wanted:
            yield marker[0], file.read(length - 2)
        else:
            file.seek(length - 2, 1)


def jpeg_sampling(path: Path) -> int | None:
    """A JPEG's (by its content) colour sampling as OpenCV's IMWRITE_JPEG_SAMPLING_FACTOR takes it
    (0x221111 for 4:2:0, 0x211111 for 4:2:2: each component's horizontal and vertical factors), None
    for a grey or 4-component JPEG, or another format."""
    try:
        with path.open("rb") as file:
            for _, body in _jpeg_segments(file, START_OF_FRAME):
                if len(body) < 6 + 9 or body[5] != 3:
                    return None
                return int.from_bytes(bytes(body[6 + 3 * i + 1] for i in range(3)), "big")
    except OSError:
        pass
    return None


LAYOUT_EXIF_TAGS = frozenset({0x0112, 0x011A, 0x011B, 0x0128, 0x0213})
"""EXIF tags that say how the pixels are laid out (orientation, resolution, chroma siting), not what
they show or who made them: an EXIF block of these only is nothing lost."""


def dropped_metadata(path: Path) -> list[str]:
    """The kinds of metadata of a JPEG, PNG or WebP (by its content) that no output carries: EXIF
    (beyond the orientation, which the pixels take, and the layout tags), XMP, IPTC, comments and
    PNG text."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
            if head.startswith(PNG_SIGNATURE):
                kinds = {kind for kind, _ in _png_header_chunks(path)}
                return [name for name, chunks in (("EXIF", {b"eXIf"}), ("text", {b"tEXt", b"iTXt", b"zTXt"}))
                        if kinds & chunks]
            if head[8:12] == b"WEBP":
                file.seek(0)
                kinds = {kind for kind, _ in _webp_chunks(file)}
                return [name for name, kind in (("EXIF", b"EXIF"), ("XMP", b"XMP ")) if kind in kinds]
            if head.startswith(b"\xff\xd8"):
                segments = list(_jpeg_segments(file, {0xE1, 0xED, 0xFE}))
                found = {
                    "EXIF": any(m == 0xE1 and b.startswith(b"Exif\x00") and _telling_exif(b[6:]) for m, b in segments),
                    "XMP": any(m == 0xE1 and b.startswith(b"http://ns.adobe.com/xap") for m, b in segments),
                    "IPTC": any(m == 0xED and b.startswith(b"Photoshop 3.0") for m, b in segments),
                    "comment": any(m == 0xFE for m, _ in segments),
                }
                return [name for name, there in found.items() if there]
    except OSError:
        pass
    return []


def _telling_exif(block: bytes) -> bool:
    """Whether an EXIF block holds more than LAYOUT_EXIF_TAGS (a camera, a date, a copyright)."""
    return any(tag not in LAYOUT_EXIF_TAGS for tag, _, _, _ in _first_directory(block))


def is_png_or_webp(path: Path) -> bool:
    """Whether `path` holds a PNG or a WebP, by its first bytes."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        return False
    return head.startswith(PNG_SIGNATURE) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def is_cut_short(path: Path) -> bool:
    """Whether a PNG or WebP file (by its content) ends before its structure says it does: a PNG
    whose chunks run out before IEND, a WebP shorter than its RIFF size. False for anything else."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return path.stat().st_size < 8 + int.from_bytes(head[4:8], "little")
            if not head.startswith(PNG_SIGNATURE):
                return False
            file.seek(len(PNG_SIGNATURE))
            size = path.stat().st_size
            while len(chunk := file.read(8)) == 8:
                if chunk[4:] == b"IEND":
                    return False
                file.seek(int.from_bytes(chunk[:4], "big") + 4, 1)
                if file.tell() > size:
                    return True
            return True
    except OSError:
        return False


def is_lossy_webp(path: Path) -> bool:
    """Whether a WebP file holds a lossy (VP8) picture rather than a lossless (VP8L) one (an
    animation, whose frames can differ, counts as lossless)."""
    with open(path, "rb") as file:
        for kind, _ in _webp_chunks(file):
            if kind in WEBP_PICTURES:
                return kind == b"VP8 "
    return False


WEBP_PICTURES = (b"VP8 ", b"VP8L", b"ANMF")
"""The chunks that hold a WebP's picture: its ICC profile, if any, comes before them."""


def _webp_chunks(file: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """The (kind, size) of each chunk of an open WebP file (none if it is not one), the file at
    the chunk's data when each is yielded."""
    header = file.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        return
    while len(chunk := file.read(8)) == 8:
        kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        start = file.tell()
        yield kind, size
        file.seek(start + size + size % 2)


def is_lossy_still(path: Path) -> bool:
    """Whether a still image file was compressed with loss (JPEG, lossy WebP), told by its content
    (a JPEG named .png is one)."""
    try:
        with open(path, "rb") as file:
            head = file.read(2)
    except OSError:
        return False
    return head == b"\xff\xd8" or is_lossy_webp(path)


EXIF_ORIENTATION_TAG = 0x0112
_UPRIGHT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1),
}


def exif_orientation(exif: bytes) -> int:
    """The Orientation tag of an EXIF block (a TIFF header and its first directory, with or without
    the `Exif\\0\\0` mark before it): 1 (upright) to 8; 1 where it has none or cannot be read."""
    for tag, _, value, order in _first_directory(exif.removeprefix(b"Exif\x00\x00")):
        if tag == EXIF_ORIENTATION_TAG:
            orientation = int.from_bytes(value[:2], order)
            return orientation if orientation in range(1, 9) else 1
    return 1


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """`image` (H, W[, C]) turned and mirrored as its EXIF `orientation` says it should be shown."""
    turn = _UPRIGHT.get(orientation)
    return image if turn is None else np.ascontiguousarray(turn(image))


def is_cut_short_jpeg(path: Path) -> bool:
    """Whether a JPEG file ends before its picture does (OpenCV decodes what there is and fills the
    rest with grey, as if the file were whole): its markers walked from the start — each header
    segment skipped by its length, each scan's coded data up to the next real marker — without
    reaching the end-of-image marker. Whatever follows that marker (a phone's motion-photo video,
    a trailer) is not looked at."""
    try:
        with path.open("rb") as file:
            if file.read(2) != b"\xff\xd8":
                return False  # not a JPEG, whatever its name: OpenCV reads it for what it is
            data = b"\xff\xd8" + file.read()
    except OSError:  # unreadable: the reading that follows says so
        return False
    position, size = 2, len(data)
    while True:
        position = data.find(b"\xff", position)  # junk between segments is skipped, as libjpeg does
        while 0 <= position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position < 0 or position >= size:
            return True
        marker = data[position]
        position += 1
        if marker == 0xD9:  # end of image
            return False
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # restart markers and TEM have no length
            continue
        if position + 2 > size:
            return True
        position += int.from_bytes(data[position : position + 2], "big")
        if marker == 0xDA:  # a scan: its coded data runs to the next marker that is not stuffing or a restart
            while True:
                position = data.find(b"\xff", position)
                if position < 0 or position + 1 >= size:
                    return True
                following = data[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    position += 2
                elif following == 0xFF:
                    position += 1
                else:
                    break


def has_unread_grey_transparency(path: Path) -> bool:
    """Whether a PNG is grey with a transparent grey level (a tRNS chunk), or a TIFF grey with an
    alpha channel (two samples a pixel), which OpenCV does not read: its transparent pixels come out
    opaque."""
    if chunks := dict(_png_header_chunks(path)):
        header = chunks.get(b"IHDR", b"")
        return len(header) >= 10 and header[9] == 0 and b"tRNS" in chunks
    if path.suffix.lower() in TIFF_SUFFIXES:
        tags = {tag: int.from_bytes(value[:2], order) for tag, _, value, order in _first_directory(path.read_bytes())}
        return tags.get(TIFF_PHOTOMETRIC, 2) in (0, 1) and tags.get(TIFF_SAMPLES_PER_PIXEL, 1) > 1
    return False


ICC_COLOUR_SPACES = {1: b"GRAY", 3: b"RGB ", 4: b"RGB "}
"""The colour space (bytes 16–19 of an ICC profile) that fits an image of so many channels."""


def profile_fits(profile: bytes, channels: int) -> bool:
    """Whether an ICC `profile` describes pixels of `channels` channels (grey, RGB, RGBA): a grey
    scan's profile on the RGB pixels OpenCV makes of a grey+alpha PNG, or a CMYK one on a CMYK
    JPEG's RGB, would be read wrong (libpng drops a GRAY profile on an RGB PNG itself)."""
    return profile[16:20] == ICC_COLOUR_SPACES.get(channels)
