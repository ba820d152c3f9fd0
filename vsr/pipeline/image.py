"""Still images (PNG/JPEG/BMP/TIFF/WebP): luma through the model at full chroma resolution, band by band.

The image is read with OpenCV, turned into BT.601 YCbCr with the 16–235 luma range the models are
trained on (a grey one into the luma of its R = G = B copy), its Y upscaled by the model, Cb/Cr
(and alpha) by bicubic, and written back as RGB (or grey).
All of that runs on horizontal bands of the input, each with the rows of context the model and
the bicubic need around it (`vsr.engine.tiling.receptive_radius`), and each band is quantised
straight into the one output array: memory is that array plus one band's working set, and the
result is the same, to one level where float rounding differs, as converting the whole image at
once (tested).
"""

from __future__ import annotations

import logging
import math
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vsr.device import choose_device
from vsr.engine.tiling import MIN_TILE, Span, receptive_radius, spans
from vsr.errors import InputError, OutputError, UnsupportedModelError
from vsr.media import mux
from vsr.media.images import (
    ICC_SUFFIXES,
    IMAGE_SUFFIXES,
    JPEG_SUFFIXES,
    STILL_FORMATS,
    changes_gamma,
    changes_primaries,
    dropped_metadata,
    exif_orientation,
    has_unread_grey_transparency,
    is_cut_short,
    is_cut_short_jpeg,
    is_png_or_webp,
    is_lossy_still,
    jpeg_sampling,
    png_colour_chunks,
    png_icc_chunk,
    profile_fits,
    read_icc_profile,
    tiff_turned_upright,
    upright,
    with_icc_profile,
    with_png_chunks,
)
from vsr.models import SRModel, resolve
from vsr.pipeline.memory import available_memory, readable_size
from vsr.pipeline.plan import check_ensemble
from vsr.pipeline.result import UpscaleResult

log = logging.getLogger(__name__)

# RGB in [0, 1] → (Y, Cb, Cr) in [0, 1], BT.601 with Y in 16–235 and Cb/Cr in 16–240 (MATLAB rgb2ycbcr).
_RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=np.float32
) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float32) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR).astype(np.float32)

BAND_BYTES = 128 << 20
"""What each of a band's three parts aims at: its upscaled luma rows, one model tile's feature maps,
and one colour band's float planes (their sum is the working set besides the output array)."""
MIN_ROWS = 8
BYTES_PER_COLOUR_SAMPLE = 48
"""Float planes of a colour band per output pixel (Y, Cb, Cr, alpha, the YCbCr→RGB temporaries); measured."""
BYTES_PER_FEATURE = 4 * 4
"""A model's feature maps per input pixel and per channel of its widest layer (a few fp32 maps live)."""
CHROMA_CONTEXT = 2
"""Input rows OpenCV's bicubic reads on either side of an output row (its result then matches exactly)."""
WEBP_OVERHEAD = 2.5
"""libwebp copies the whole image to ARGB and keeps the encoded picture: extra bytes per output byte.
The other writers (PNG, JPEG, TIFF, BMP) read rows straight from the output array (measured)."""


@dataclass(frozen=True)
class StillTiling:
    """How a still is cut, in input pixels: luma bands of `luma_rows` rows, through the model in tiles
    of `tile`x`tile` (each with the model's receptive radius of context), turned back into RGB in
    colour bands of `colour_rows` rows (each with CHROMA_CONTEXT rows of context)."""

    luma_rows: int
    tile: int
    colour_rows: int

    @classmethod
    def for_image(cls, width: int, scale: int, module: torch.nn.Module) -> StillTiling:
        """The largest sizes whose parts fit BAND_BYTES each (at least MIN_ROWS rows, MIN_TILE tiles)."""
        side = math.isqrt(BAND_BYTES // (feature_channels(module) * BYTES_PER_FEATURE)) - 2 * receptive_radius(module)
        return cls(
            luma_rows=max(MIN_ROWS, BAND_BYTES // (4 * scale * scale * width)),
            tile=max(MIN_TILE, side),
            colour_rows=max(MIN_ROWS, BAND_BYTES // (BYTES_PER_COLOUR_SAMPLE * scale * scale * width)),
        )

    def working_set(self, height: int, width: int, scale: int, module: torch.nn.Module) -> int:
        """Estimated bytes of a band's luma rows, one model tile and one colour band of a height x width image."""
        context = receptive_radius(module)
        luma_rows, colour_rows = min(self.luma_rows, height), min(self.colour_rows, height)
        luma = 4 * width * (scale * scale * luma_rows + luma_rows + 2 * context)
        tile_pixels = (min(self.tile, height) + 2 * context) * (min(self.tile, width) + 2 * context)
        colour = BYTES_PER_COLOUR_SAMPLE * scale * scale * width * (colour_rows + 2 * CHROMA_CONTEXT)
        return luma + tile_pixels * feature_channels(module) * BYTES_PER_FEATURE + colour


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] → (H, W, 3) float YCbCr in [0, 1]."""
    return rgb @ _RGB_TO_YCBCR.T + _YCBCR_OFFSET


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """(H, W, 3) float YCbCr in [0, 1] → (H, W, 3) float RGB in [0, 1], not clamped."""
    return (ycc - _YCBCR_OFFSET) @ _YCBCR_TO_RGB.T


def _resize(plane: np.ndarray, scale: int) -> np.ndarray:
    height, width = plane.shape[:2]
    return cv2.resize(plane, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)


def upscale_image(
    source: Path,
    target: Path,
    *,
    scale: int,
    model: str | os.PathLike[str] | SRModel | None,
    device: str = "auto",
    overwrite: bool = False,
    tiling: StillTiling | None = None,
    ensemble: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> UpscaleResult:
    """Upscale one still image; 8- and 16-bit, grey, colour and alpha are kept as they are.

    model: as `vsr.models.resolve` takes it (None, a name, a weight file or an SRModel); the
    luma runs through it in fp32 on `device` (with `ensemble`, in its 8 orientations, averaged). tiling: band and tile sizes (default: as large as
    fit `BAND_BYTES`). `progress`: called with (1, 1) once the picture is upscaled, before it is
    written (an exception from it leaves no file). Raises InputError, OutputError (also, before any work, when the output array
    and the working set would not fit in the memory available) or UnsupportedModelError.
    """
    sr_model = resolve(model, scale)
    check_ensemble(sr_model, ensemble)
    if sr_model.is_multi_frame:
        raise UnsupportedModelError(f"{sr_model.name} is a multi-frame model: it needs a video (--mode multi), not a still image")
    if not source.is_file():
        raise InputError(f"input file not found: {source}")
    if target.is_dir():
        raise OutputError(f"the output {target} is a folder; give a file name with -o")
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"an image can only be written as an image; {target.name!r} has no image extension "
                          f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    mux.check_output_path(source, target, overwrite)
    with mux.reserve_output(target) as temp:  # stale partials swept, a racing run refused, before any work
        image = read_image(source)
        profile = icc_profile_of(source)
        channels = 1 if image.ndim == 2 else image.shape[2]
        written = 3 if channels == 1 and target.suffix.lower() == ".webp" else channels  # WebP holds no grey: RGB
        if profile is not None and not profile_fits(profile, written):
            log.warning("%s: its ICC profile describes %s pixels, not the %d-channel ones %s; it is left out",
                        source.name, profile[16:20].decode("latin-1").strip() or "other", written,
                        "read" if written == channels else f"{target.name} holds")
            profile = None
        if dropped := dropped_metadata(source):
            log.warning("%s: its %s metadata is not carried into %s (vsr writes the pixels, the ICC profile and "
                        "a PNG's colour chunks)", source.name, ", ".join(dropped), target.name)
        started = time.perf_counter()
        torch_device = choose_device(device)
        width = image.shape[1]
        tiling = tiling or StillTiling.for_image(width, scale, sr_model.module)
        shape = (image.shape[0] * scale, width * scale, *image.shape[2:])
        dtype = output_dtype(image, shape, target)
        working_set = tiling.working_set(image.shape[0], width, scale, sr_model.module) + image.nbytes  # the input held too
        check_memory_for(shape, dtype, target.suffix, working_set)
        out = np.empty(shape, dtype)
        upscale_into(out, image, sr_model, torch_device, tiling, ensemble)
        if progress is not None:
            progress(1, 1)
        write_image(out, temp, target, overwrite, profile, lossy=is_lossy_still(source), png_colour=png_colour_chunks(source),
                    sampling=jpeg_sampling(source))
    return UpscaleResult(target, 1, time.perf_counter() - started, sr_model.name, str(torch_device), "fp32",
                         shape[1], shape[0])


def read_image(source: Path) -> np.ndarray:
    """The image as OpenCV stores it: (H, W) grey, or (H, W, 3) BGR / (H, W, 4) BGRA, any depth;
    turned as its EXIF orientation says (cameras and phones store photos sideways with a tag saying
    so; the output has no tag, so it holds the turned pixels); the first page of a multi-page TIFF
    or the first frame of an animation, with a warning."""
    if is_cut_short_jpeg(source):  # by its content (a JPEG named .png too), before libjpeg decodes and complains
        raise InputError(f"{source} is cut short or damaged: its picture has no end (OpenCV would fill the rest with grey)")
    turned = tiff_turned_upright(source)  # by its content: None at once for another file
    try:
        if turned is not None:  # read as stored (its tag set to 1 in memory), turned below
            image, kinds, blocks = cv2.imdecode(np.frombuffer(turned[0], np.uint8), cv2.IMREAD_UNCHANGED), [], []
        else:
            image, kinds, blocks = cv2.imreadWithMetadata(str(source), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # a header claiming more pixels than OpenCV reads, and the like
        text = str(exc)
        reason = ("its header claims more pixels than OpenCV reads (2^30)" if "MAX_IMAGE_PIXELS" in text
                  else text.strip().rsplit("error: ", 1)[-1])
        raise InputError(f"{source} cannot be read: {reason}") from None
    if image is None:
        if is_cut_short(source):
            raise InputError(f"{source} is cut short or damaged: it ends before its picture does")
        if is_png_or_webp(source):
            raise InputError(f"{source} is damaged: OpenCV cannot decode its picture")
        raise InputError(f"{source} is not an image OpenCV can read")
    if image.dtype.kind == "i":
        raise InputError(f"{source} holds signed {8 * image.dtype.itemsize}-bit samples, which no picture format "
                         "vsr writes takes; convert it to unsigned or float first")
    for kind, block in zip(kinds, blocks):
        if kind == cv2.IMAGE_METADATA_EXIF:
            image = upright(image, exif_orientation(np.asarray(block).tobytes()))
    if turned is not None:
        image = upright(image, turned[1])
    if has_unread_grey_transparency(source):
        log.warning("%s: the transparency of its grey pixels (a PNG's tRNS key, a TIFF's alpha channel) is not "
                    "read by OpenCV: the output is opaque", source.name)
    if (pages := cv2.imcount(str(source))) > 1:
        log.warning("%s holds %d pages or animation frames: only the first is upscaled", source.name, pages)
    return image


def output_dtype(image: np.ndarray, shape: tuple[int, ...], target: Path) -> np.dtype:
    """The sample type `target`'s format holds closest to the input's (its unsigned depth, float32 for
    a floating-point image), with a warning when that loses depth or alpha; raises
    OutputError, before any work, when the format cannot hold an image of `shape`."""
    still = STILL_FORMATS[target.suffix.lower()]
    if still.max_side is not None and max(shape[:2]) > still.max_side:
        raise OutputError(f"the output would be {shape[1]}x{shape[0]}, but {still.name} holds at most "
                          f"{still.max_side} pixels a side; write .png or .tif")
    wanted = image.dtype if image.dtype.kind == "u" else np.dtype(np.float32)
    dtype = wanted if wanted.name in still.depths else np.dtype(still.depths[0])
    if dtype != wanted:
        kept = "float" if wanted.kind == "f" else f"{8 * wanted.itemsize}-bit"
        clamped = ", values clamped to 0–1" if wanted.kind == "f" else ""
        log.warning("%s: %s holds no %s samples: written as %d-bit%s (write .tif to keep them)",
                    target.name, still.name, kept, 8 * dtype.itemsize, clamped)
    if len(shape) == 3 and shape[2] == 4 and not still.alpha:
        log.warning("%s: %s has no alpha channel: the transparency is dropped, what was transparent comes out black "
                    "(write .png, .webp or .tif to keep it)",
                    target.name, still.name)
    return dtype


def upscale_into(out: np.ndarray, image: np.ndarray, sr_model: SRModel, device: torch.device,
                 tiling: StillTiling, ensemble: bool = False) -> None:
    """Fill `out` (s·H, s·W[, C]) with `image` (H, W[, C]) upscaled, luma band by luma band and,
    within each, colour band by colour band; every part is computed from its context, so the
    result is the one a single pass over the whole image gives (to one level where float rounding
    differs). An alpha channel that is 0 everywhere is no transparency (a texture's spare channel, a
    mask): the colour is then resampled as it is, not premultiplied by it into black."""
    scale, height = sr_model.scale, image.shape[0]
    premultiply = image.ndim == 3 and image.shape[2] == 4 and bool(image[..., 3].any())
    for band in spans(0, height, tiling.luma_rows, receptive_radius(sr_model.module), height):
        luma = upscale_luma(image, band, sr_model, device, tiling, ensemble, premultiply)
        for part in spans(band.start, band.stop, tiling.colour_rows, CHROMA_CONTEXT, height):
            out[part.output(scale)] = finish_rows(image, part, luma[part.output(scale, band.start)], scale, out.dtype,
                                                  premultiply)


def upscale_luma(image: np.ndarray, band: Span, sr_model: SRModel, device: torch.device,
                 tiling: StillTiling, ensemble: bool = False, premultiply: bool = True) -> np.ndarray:
    """The band's rows of the upscaled luma, float32 (s·rows, s·W) in [0, 1] (not clamped): the
    model on tiles of the band, each with the model's receptive radius of context."""
    scale, (height, width) = sr_model.scale, image.shape[:2]
    context = receptive_radius(sr_model.module)
    plane = np.empty((band.context_stop - band.context_start, width), np.float32)
    for chunk in spans(band.context_start, band.context_stop, tiling.colour_rows, 0, height):
        plane[chunk.output(1, band.context_start)] = to_ycbcr(image[chunk.context], premultiply)[..., 0]
    luma = np.empty((scale * (band.stop - band.start), scale * width), np.float32)
    for rows in spans(band.start, band.stop, tiling.tile, context, height):
        for cols in spans(0, width, tiling.tile, context, width):
            tile = plane[rows.context_start - band.context_start : rows.context_stop - band.context_start, cols.context]
            upscaled = sr_model.run_luma(tile, max_value=1, device=device, ensemble=ensemble and sr_model.learned)
            luma[rows.output(scale, band.start), cols.output(scale)] = upscaled[rows.inner(scale), cols.inner(scale)]
    return luma


GREY_OFFSET, GREY_RANGE = 16 / 255, 219 / 255
"""A grey value v as luma: 16/255 + 219/255·v, the Y of R = G = B = v (rgb_to_ycbcr), which the models
were trained on; fed the full range, a grey picture came out up to 37 levels from its RGB copy's."""


def to_ycbcr(rows: np.ndarray, premultiply: bool = True) -> np.ndarray:
    """Image rows (h, W[, C]) → float32 (h, W, 1 + C − 3 or 1) in [0, 1]: the luma of a grey image, or
    Y, Cb, Cr (and alpha) of a BGR(A) one, its colour premultiplied by the alpha (what lies under a
    transparent pixel must not bleed into its neighbours: a red logo on transparent green got a green
    fringe)."""
    pixels = rows.astype(np.float32) / _peak(rows.dtype)
    if pixels.ndim == 2:  # as the Y of R = G = B: the models learned BT.601's 16–235 luma
        return (GREY_OFFSET + GREY_RANGE * pixels)[..., None]
    rgb = pixels[..., 2::-1]
    if pixels.shape[2] == 4 and premultiply:
        rgb = rgb * pixels[..., 3:]
    return np.dstack([rgb_to_ycbcr(rgb), pixels[..., 3:]])


def finish_rows(image: np.ndarray, part: Span, luma: np.ndarray, scale: int, dtype: np.dtype,
                premultiply: bool = True) -> np.ndarray:
    """Output rows [s·part.start, s·part.stop) from their upscaled `luma` (changed in place): chroma
    and alpha upscaled by bicubic, back to BGR(A), as float32 in the units of the output's `dtype`
    (levels, rounded and clamped, for an integer one)."""
    if image.ndim == 2:
        result = np.multiply(np.subtract(luma, GREY_OFFSET, out=luma), 1 / GREY_RANGE, out=luma)
    else:
        inner = part.inner(scale)
        ycc = to_ycbcr(image[part.context], premultiply)
        chroma = [_resize(ycc[..., channel], scale)[inner] for channel in range(1, ycc.shape[2])]
        result = ycbcr_to_rgb(np.dstack([luma, *chroma[:2]]))[..., ::-1]
        if chroma[2:] and not premultiply:
            result = np.dstack([result, chroma[2]])
        elif chroma[2:]:  # the colour back from premultiplied; under no alpha at all, none
            alpha = chroma[2]
            covered = np.clip(alpha, MIN_ALPHA, None)[..., None]
            result = np.dstack([np.where(alpha[..., None] >= MIN_ALPHA, result / covered, 0.0), alpha])
    if dtype.kind != "u":
        if result.ndim == 3 and result.shape[2] == 4:  # a float picture's colour may overshoot, its coverage not
            np.clip(result[..., 3], 0.0, 1.0, out=result[..., 3])
        return result
    peak = _peak(dtype)
    np.multiply(result, peak, out=result)
    np.rint(result, out=result)
    return np.clip(result, 0, peak, out=result)


MIN_ALPHA = 1 / 1024
"""Alpha under which a pixel's colour is not recovered from its premultiplied value (it would be noise
divided by almost nothing): it is left black, as transparent."""


def _peak(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


def feature_channels(module: torch.nn.Module) -> int:
    """The widest layer's channel count: what a model's working memory grows with per input pixel."""
    widths = [layer.out_channels for layer in module.modules() if isinstance(layer, torch.nn.Conv2d)]
    return max(widths, default=1)


def check_memory_for(shape: tuple[int, ...], dtype: np.dtype, suffix: str, working_set: int) -> None:
    """Raise OutputError when an output array of `shape` and `dtype`, its encoded file, the writer's
    copies for `suffix` and `working_set` bytes exceed the memory available (`vsr.pipeline.memory`); nothing when unknown."""
    available = available_memory()
    output = int(np.prod(shape)) * dtype.itemsize
    # the encoded file is held in memory before it is written: up to the array's size (BMP, TIFF, a noisy PNG)
    needed = 2 * output + (int(output * WEBP_OVERHEAD) if suffix.lower() == ".webp" else 0) + working_set
    if available is None or needed <= available:
        return
    raise OutputError(
        f"the output would be {shape[1]}x{shape[0]} ({readable_size(output)} as {_describe(shape, dtype)}, "
        f"{readable_size(needed)} with the working memory) but only {readable_size(available)} of memory is available; "
        "use a smaller scale or crop the image"
    )


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    depth = f"{8 * dtype.itemsize}-bit" + (" float" if dtype.kind == "f" else "")
    channels = 1 if len(shape) == 2 else shape[2]
    return f"{depth} " + {1: "grey", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")



def icc_profile_of(source: Path) -> bytes | None:
    """The ICC profile of a PNG, JPEG, WebP or TIFF input (None without one, or for other formats); a
    damaged one is left behind with a warning."""
    try:
        return read_icc_profile(source)
    except (ValueError, IndexError, zlib.error) as exc:
        log.warning("ignoring the damaged ICC profile of %s (%s)", source.name, exc)
        return None


PNG_LOOKS = (("gamma", "gAMA", changes_gamma), ("primaries", "cHRM", changes_primaries))
"""A PNG's colour chunks that change how a viewer shows it, where they are not sRGB's: what is said
when an output of another format cannot carry them."""
JPEG_SAMPLINGS = frozenset({cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440,
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444})
"""The colour samplings OpenCV writes a JPEG in."""
LOSSY_QUALITY = 95
"""JPEG and lossy WebP quality of an output (OpenCV's JPEG default; a WebP is lossless unless its input was lossy)."""


def write_image(out: np.ndarray, temp: Path, target: Path, overwrite: bool, profile: bytes | None = None,
                lossy: bool = False, png_colour: list[tuple[bytes, bytes]] | None = None,
                sampling: int | None = None) -> None:
    """Write `out` to the reserved partial file `temp`, with the input's ICC `profile` where the
    format takes one (PNG, JPEG, WebP; a warning for another) and a PNG input's colour chunks
    (`png_colour`: gamma, primaries) into a PNG (a warning for another format where its gamma or
    primaries are not sRGB's), and move it onto `target` when complete.
    A WebP is compressed with loss only when the input was (`lossy`): a photo stays a small file. A
    JPEG keeps the input JPEG's colour sampling (`sampling`, as jpeg_sampling gives it), else its
    colour at full resolution (4:4:4): OpenCV's 4:2:0 halved the colour just upscaled, 23 levels off
    on fine colour detail."""
    suffix = target.suffix.lower()
    chroma = sampling if sampling in JPEG_SAMPLINGS else cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
    params = {".webp": [cv2.IMWRITE_WEBP_QUALITY, LOSSY_QUALITY if lossy else 101],
              **dict.fromkeys(JPEG_SUFFIXES, [cv2.IMWRITE_JPEG_QUALITY, LOSSY_QUALITY,
                                              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, chroma])}.get(suffix, [])
    by_opencv = profile is not None and suffix == ".webp"  # vsr writes a PNG's or JPEG's profile itself
    metadata = ([cv2.IMAGE_METADATA_ICCP], [np.frombuffer(profile, np.uint8)]) if by_opencv else ([], [])
    try:
        ok, encoded = cv2.imencodeWithMetadata(suffix, out, *metadata, params)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"could not write {target} (does OpenCV support {target.suffix} for this image?)")
    pieces: list[bytes | memoryview] = [memoryview(encoded)]
    png_colour = png_colour or []
    if suffix == ".png" and (png_colour or profile is not None):  # sRGB's chunk and a profile exclude each other
        chunks = [chunk for chunk in png_colour if not (profile is not None and chunk[0] == b"sRGB")]
        pieces = with_png_chunks(memoryview(encoded).cast("B"), chunks + ([png_icc_chunk(profile)] if profile else []))
    elif profile is None and (lost := [(word, chunk) for word, chunk, changes in PNG_LOOKS if changes(png_colour)]):
        log.warning("the input's PNG %s (%s) %s not carried into %s output: its tones or colours may look different "
                    "(write .png to keep %s)", " and ".join(w for w, _ in lost), ", ".join(c for _, c in lost),
                    "is" if lost == [("gamma", "gAMA")] else "are", target.suffix, "it" if len(lost) == 1 else "them")
    elif any(kind == b"cICP" for kind, _ in png_colour):
        log.warning("the input's PNG colour code points (cICP: an HDR or wide-gamut image) are not carried into %s "
                    "output: it would be shown as sRGB (write .png to keep them)", target.suffix)
    if profile is not None and not by_opencv and suffix != ".png":
        if suffix in ICC_SUFFIXES:
            pieces = with_icc_profile(memoryview(encoded).cast("B"), profile)
        else:
            log.warning("the input's ICC profile is not carried into %s output: its colours may look different "
                        "(write .png, .jpg or .webp to keep it)", target.suffix)
    try:
        with open(temp, "wb") as file:
            for piece in pieces:
                file.write(piece)
    except OSError as exc:  # a full disk, a quota: said as the system says it, in one line
        raise OutputError(f"could not write {target}: {mux.system_reason(exc)}") from None
    mux.commit_output(temp, target, overwrite)
