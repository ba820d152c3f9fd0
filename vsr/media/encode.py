"""Stage 4: upscaled planes → encoder frames → video packets, with the input's timing and colour."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from vsr.errors import VsrError
from vsr.options import EncodeOptions
from vsr.media.frames import PLANAR_LAYOUTS, Layout, VideoItem, plane_rows
from vsr.media.probe import VideoInfo

log = logging.getLogger(__name__)

DEFAULT_CODECS = {"mp4": "libx264", "matroska": "libx264", "mov": "libx264", "webm": "libvpx-vp9"}
FALLBACK_PIX_FMTS = ("yuv420p10le", "yuv420p")



def encoder_pix_fmts(codec: str) -> list[str]:
    try:
        formats = av.codec.Codec(codec, "w").video_formats or []
    except av.codec.codec.UnknownCodecError:
        raise VsrError(f"unknown video encoder {codec!r} (try libx264, libx265, libvpx-vp9, libsvtav1 or ffv1)") from None
    return [f.name for f in formats]


def choose_pix_fmt(codec: str, input_pix_fmt: str, requested: str | None) -> str:
    """The requested format; else the input's if the pipeline and the encoder both take it; else 4:2:0."""
    supported = encoder_pix_fmts(codec)
    if requested is not None:
        if requested not in PLANAR_LAYOUTS or requested not in supported:
            usable = [f for f in supported if f in PLANAR_LAYOUTS]
            raise VsrError(f"pixel format {requested!r} is not available with {codec}; use one of {', '.join(usable)}")
        return requested
    if input_pix_fmt in PLANAR_LAYOUTS and input_pix_fmt in supported:
        return input_pix_fmt
    if input_pix_fmt.startswith("yuvj") and input_pix_fmt.replace("yuvj", "yuv") in supported:
        return input_pix_fmt.replace("yuvj", "yuv")
    deep = av.VideoFormat(input_pix_fmt).components[0].bits > 8 if input_pix_fmt else False
    for candidate in FALLBACK_PIX_FMTS if deep else FALLBACK_PIX_FMTS[1:]:
        if candidate in supported:
            return candidate
    raise VsrError(f"{codec} takes none of the pixel formats vsr works in ({', '.join(PLANAR_LAYOUTS)})")


def _encoder_options(codec: str, options: EncodeOptions) -> dict[str, str]:
    opts: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        if options.crf is not None:
            opts["crf"] = str(options.crf)
        if options.preset:
            opts["preset"] = options.preset
        if codec == "libx265":
            opts["x265-params"] = "log-level=error"
    elif codec == "libvpx-vp9":
        if options.crf is not None:
            opts.update(crf=str(options.crf), b="0")
        opts["row-mt"] = "1"
        opts["deadline"] = "good"
        opts["cpu-used"] = "4"
    elif codec == "libsvtav1":
        if options.crf is not None:
            opts["crf"] = str(options.crf)
        if options.preset and options.preset.isdigit():
            opts["preset"] = options.preset
    return opts


def add_video_stream(
    output: av.container.OutputContainer,
    info: VideoInfo,
    codec: str,
    options: EncodeOptions,
    layout: Layout,
    width: int,
    height: int,
) -> av.video.stream.VideoStream:
    """The output video stream with the input's time base, frame rate, colour, aspect and rotation."""
    stream = output.add_stream(codec, rate=info.average_rate, options=_encoder_options(codec, options))
    stream.width, stream.height = width, height
    stream.pix_fmt = layout.pix_fmt
    stream.time_base = info.time_base
    ctx = stream.codec_context
    ctx.time_base = info.time_base
    if info.average_rate:
        ctx.framerate = info.average_rate
    colour = info.colour
    ctx.color_primaries, ctx.color_trc, ctx.colorspace = colour.primaries, colour.transfer, colour.matrix
    ctx.color_range = 2 if layout.pix_fmt.startswith("yuvj") else colour.range
    if info.sample_aspect_ratio:
        ctx.sample_aspect_ratio = info.sample_aspect_ratio
    if info.rotation:
        stream.set_display_rotation(info.rotation)
    return stream


def frame_from_planes(planes: list[np.ndarray], item: VideoItem, layout: Layout, time_base: Fraction) -> av.VideoFrame:
    """An encoder frame holding `planes` (Y first), stamped with the source frame's timestamp."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, layout.pix_fmt)
    for plane, array in zip(frame.planes, planes):
        plane_rows(plane, layout.dtype)[: array.shape[0], : array.shape[1]] = array
    frame.pts = item.pts
    frame.duration = item.duration
    frame.time_base = time_base
    return frame
