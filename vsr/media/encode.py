"""Upscaled planes → encoder frames → video packets, with the input's timing and colour, at a
constant rate factor or a target bitrate."""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av import VideoFrame  # also the type that code outside vsr.media (which has no av) annotates with

from vsr.errors import ConfigError
from vsr.options import EncodeOptions
from vsr.media.colour import encoded_range, shown_colour
from vsr.media.explain import explained
from vsr.media.frames import PLANAR_LAYOUTS, Layout, VideoItem, plane_rows
from vsr.media.probe import VideoInfo, file_url

log = logging.getLogger(__name__)

SVT_QUIET = ("SVT_LOG", "1")
"""SVT-AV1 writes a 20-line banner and its settings to stderr for every encoder opened; level 1 keeps
only its errors (a user's own SVT_LOG wins). Set when an SVT-AV1 encoder is first made, not at import:
a program that imports vsr and never encodes AV1 keeps its environment."""

DEFAULT_CODECS = {"mp4": "libx264", "matroska": "libx264", "mov": "libx264", "webm": "libvpx-vp9"}
FALLBACK_PIX_FMTS = ("yuv420p10le", "yuv420p")
ENCODER_THREAD_TYPE = "AUTO"
"""Frame and slice threads: PyAV's default, slice threads alone, puts libx264 in its sliced-thread
mode; frame threads are what the ffmpeg command and x264 itself use (the bitstreams differ)."""


SAR_IN_BITSTREAM = ("h264", "hevc", "mpeg2video", "mpeg4")
"""Codecs whose bitstream says the sample aspect ratio. Matroska and WebM take it from the muxer's
stream (their display size), which PyAV cannot set: a VP9, AV1 or FFV1 stream there loses it."""


def check_aspect_kept(container: str, codec: str, sar: Fraction | None) -> None:
    """ConfigError where `codec` in `container` would lose a non-square sample aspect ratio `sar`."""
    if not sar or sar == 1 or container not in ("matroska", "webm"):
        return
    if av.codec.Codec(codec, "w").canonical_name in SAR_IN_BITSTREAM:
        return
    raise ConfigError(
        f"{codec} in {'WebM' if container == 'webm' else 'Matroska'} cannot keep the source's sample aspect ratio "
        f"{sar.numerator}:{sar.denominator} (players would show the picture stretched); pass --square-pixels to "
        "resample to square pixels, or write .mp4 or .mov, or .mkv with libx264 or libx265")


def encoder_pix_fmts(codec: str) -> list[str]:
    """The pixel formats the encoder `codec` takes; VsrError for an unknown encoder."""
    try:
        encoder = av.codec.Codec(codec, "w")
    except av.codec.codec.UnknownCodecError:
        raise ConfigError(f"unknown video encoder {codec!r} (try libx264, libx265, libvpx-vp9, libsvtav1 or ffv1)") from None
    if encoder.type != "video":
        article = "an" if encoder.type[:1] in "aeiou" else "a"
        raise ConfigError(f"{codec!r} is {article} {encoder.type} encoder, not a video one (try libx264, libx265, libvpx-vp9, libsvtav1 or ffv1)")
    if encoder.video_formats is None:  # it lists none: it takes any (rawvideo)
        return list(PLANAR_LAYOUTS)
    return [f.name for f in encoder.video_formats]


def choose_pix_fmt(codec: str, input_pix_fmt: str, requested: str | None) -> str:
    """The requested format; else the input's if the pipeline and the encoder both take it; else 4:2:0
    (10-bit for a deeper input where the encoder takes it). VsrError when `requested` is unusable."""
    supported = encoder_pix_fmts(codec)
    if requested is not None:
        if requested.startswith("yuvj"):  # its samples would be the source's, tagged full range: washed out
            raise ConfigError(f"pixel format {requested!r} is FFmpeg's old name for full-range {requested.replace('yuvj', 'yuv')}; "
                              f"vsr keeps the source's range and says it in the tags: use {requested.replace('yuvj', 'yuv')}")
        if requested not in PLANAR_LAYOUTS or requested not in supported:
            usable = [f for f in supported if f in PLANAR_LAYOUTS]
            raise ConfigError(f"pixel format {requested!r} is not available with {codec}; use one of {', '.join(usable)}")
        return requested
    if input_pix_fmt in PLANAR_LAYOUTS and input_pix_fmt in supported:
        return input_pix_fmt
    if input_pix_fmt.startswith("yuvj") and input_pix_fmt.replace("yuvj", "yuv") in supported:
        return input_pix_fmt.replace("yuvj", "yuv")
    deep = av.VideoFormat(input_pix_fmt).components[0].bits > 8 if input_pix_fmt else False
    # the input's chroma (4:2:2, 4:4:4) where the encoder takes it at a depth the pipeline works in
    family = "gray" if input_pix_fmt.startswith("gray") else "yuv" if input_pix_fmt.startswith("yuv") else None
    same_chroma = [f for f in PLANAR_LAYOUTS if family and f.startswith(family) and not f.startswith("yuvj")
                   and _chroma(f) == _chroma(input_pix_fmt)]
    shallow = [f for f in same_chroma if av.VideoFormat(f).components[0].bits == 8]
    candidates = [*(f for f in same_chroma if f not in shallow), *FALLBACK_PIX_FMTS[:1], *shallow] if deep else shallow
    for candidate in [*candidates, *FALLBACK_PIX_FMTS[1:]]:
        if candidate in supported:
            return candidate
    # an encoder of other formats only (ProRes: 10-bit 4:2:2 and 4:4:4): the smallest of those that lose least
    usable = [f for f in PLANAR_LAYOUTS if f in supported and not f.startswith("yuvj")]
    if not usable:
        raise ConfigError(f"{codec} takes none of the pixel formats vsr works in ({', '.join(PLANAR_LAYOUTS)})")
    return min(usable, key=lambda f: (_losses(input_pix_fmt, f), _bits_per_pixel(f)))


def _losses(source: str, written: str) -> int:
    """How much of depth and chroma writing `source` as `written` loses (alpha goes whatever the format)."""
    try:
        return len(_detail_lost(av.VideoFormat(source), av.VideoFormat(written)))
    except (ValueError, av.FFmpegError):
        return 0


def _bits_per_pixel(pix_fmt: str) -> float:
    """The bits a pixel of `pix_fmt` takes, over its planes."""
    tile = av.VideoFormat(pix_fmt, 16, 16)
    return sum(c.bits * c.width * c.height for c in tile.components) / 256


def pixel_format_loss(source: str, written: str) -> str | None:
    """What writing frames of pixel format `source` as `written` loses that a user would miss: an
    alpha channel, or bits of depth (None when nothing, or for an unknown format)."""
    try:
        before, after = av.VideoFormat(source), av.VideoFormat(written)
    except (ValueError, av.FFmpegError):
        return None
    if any(c.is_alpha for c in before.components) and not any(c.is_alpha for c in after.components):
        return "its alpha channel (transparency) is dropped; vsr upscales video without it (stills keep theirs)"
    return "; ".join(_detail_lost(before, after)) or None


def _detail_lost(before: av.VideoFormat, after: av.VideoFormat) -> list[str]:
    """The depth and chroma resolution that writing `before` as `after` loses, one part each."""
    lost = []
    depth_before, depth_after = before.components[0].bits, after.components[0].bits
    if depth_before > depth_after:
        lost.append(f"its {depth_before}-bit samples become {depth_after}-bit")
    finer, coarser = _chroma(before.name), _chroma(after.name)
    if not before.is_rgb and finer and coarser and any(a < b for a, b in zip(finer, coarser)):
        lost.append(f"its {_CHROMA_NAMES.get(finer, 'chroma')} chroma is subsampled to {_CHROMA_NAMES.get(coarser, 'less')}")
    return lost


_CHROMA_NAMES = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0", (4, 1): "4:1:1"}


def _chroma(pix_fmt: str) -> tuple[int, int] | None:
    """The chroma subsampling of `pix_fmt` (horizontal, vertical factors), None for grey or unknown."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return None
    if len(fmt.components) < 3:
        return None
    return 16 // fmt.chroma_width(16), 16 // fmt.chroma_height(16)


CRF_RANGES = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63), "libsvtav1": (1, 63)}
"""The encoders that take a CRF, and its range (x264 would cap a larger one without a word)."""


def check_crf(codec: str, crf: int) -> None:
    """ConfigError unless `codec` takes a CRF and `crf` is in its range (an encoder FFmpeg does
    not have is left to the check that names it)."""
    if codec not in CRF_RANGES:
        if codec not in av.codecs_available:
            return
        raise ConfigError(f"{codec} has no CRF; give bitrates instead ({', '.join(CRF_RANGES)} take a CRF)")
    low, high = CRF_RANGES[codec]
    if not low <= crf <= high:
        raise ConfigError(f"{codec}'s CRF runs from {low} to {high}, got {crf}")


SVT_AV1_PRESETS = 13
"""SVT-AV1's fastest preset (0 is the slowest)."""
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
VP9_CPU_USED = dict(zip(X26X_PRESETS, (8, 8, 7, 6, 5, 4, 3, 2, 1, 0)))
"""libvpx-vp9's speed (cpu-used, with deadline "good") for each x264 preset name: one --preset serves every codec."""
VP9_FASTEST = 8
SVT_AV1_PRESET = dict(zip(X26X_PRESETS, (13, 12, 12, 11, 10, 10, 8, 6, 4, 2)))
"""SVT-AV1's preset for each x264 name: medium (and fast) keep its own default (10), the faster names go
faster, the slower ones slower (a name was ignored: ultrafast ran at 10)."""


def _encoder_options(codec: str, options: EncodeOptions) -> dict[str, str]:
    """The encoder's private options. With a bitrate there is no CRF (the encoders' rate control
    then aims at the stream's bit_rate: ABR for x264/x265, VBR for VP9 and SVT-AV1)."""
    crf = options.crf if options.bitrate is None else None
    opts: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        if crf is not None:
            opts["crf"] = str(crf)
        if options.preset:
            opts["preset"] = options.preset
        if codec == "libx265":
            opts["x265-params"] = "log-level=error"
    elif codec == "libvpx-vp9":
        if crf is not None:
            opts.update(crf=str(crf), b="0")
        opts["row-mt"] = "1"
        opts["deadline"] = "good"
        opts["cpu-used"] = str(vp9_speed(options.preset or "medium"))
    elif codec == "libsvtav1":
        if crf is not None:
            opts["crf"] = str(crf)
        if options.preset:
            opts["preset"] = options.preset if options.preset.isdigit() else str(SVT_AV1_PRESET[options.preset.lower()])
    return opts


def vp9_speed(preset: str) -> int:
    """libvpx-vp9's cpu-used for a preset: an x264 name (VP9_CPU_USED) or the number itself, 0-8."""
    return int(preset) if preset.isdigit() else VP9_CPU_USED[preset.lower()]


def check_preset(codec: str, preset: str) -> None:
    """ConfigError for a preset `codec` would refuse when it opens (x264 prints its own complaint
    straight to stderr first) or would not understand: x264/x265 take their names, VP9 the same
    names (VP9_CPU_USED) or its speed 0-8, SVT-AV1 a number 0-13 or one of the names
    (SVT_AV1_PRESET), so that one --preset serves every codec."""
    names = ", ".join(X26X_PRESETS)
    if codec in ("libx264", "libx265") and preset.lower() not in X26X_PRESETS:
        raise ConfigError(f"unknown {codec} preset {preset!r}; use one of {names}")
    numbered = {"libvpx-vp9": VP9_FASTEST, "libsvtav1": SVT_AV1_PRESETS}
    if codec in numbered and preset.lower() not in X26X_PRESETS and not (preset.isdigit() and int(preset) <= numbered[codec]):
        raise ConfigError(f"{codec} presets are 0 (slowest) to {numbered[codec]} (fastest) or one of {names}, got {preset!r}")


def check_encode(codec: str, options: EncodeOptions) -> None:
    """The encoder settings checked before any work: ConfigError for what `codec` would refuse or
    could not honour, a warning for what it would ignore."""
    _check_settings(codec, options)
    _check_rate_control(codec, options)


def _check_settings(codec: str, options: EncodeOptions) -> None:
    if options.bitrate is not None and options.bitrate <= 0:
        raise ConfigError(f"the bitrate must be a positive number of bits per second, got {options.bitrate}")
    if options.bitrate is None and options.crf is not None and codec in CRF_RANGES:
        check_crf(codec, options.crf)
    if options.preset:
        check_preset(codec, options.preset)


BITRATE_CODECS = ("mpeg4", "mpeg2video", "mpeg1video", "msmpeg4", "msmpeg4v2", "libxvid", "h263p", "flv", "wmv2")
"""Encoders whose quality is their bitrate (FFmpeg's default, 200 kb/s, where none is given)."""


def _check_rate_control(codec: str, options: EncodeOptions) -> None:
    """ConfigError for a CRF given to an encoder that has none (mpeg4, ffv1: it was ignored without a
    word, the quality asked for not given), a warning for a preset (the speed only) and where a
    bitrate encoder gets no bitrate (it encodes at FFmpeg's default, 200 kb/s, whatever the size).
    The defaults (CRF 18, medium) go unsaid."""
    if codec in CRF_RANGES or codec not in av.codecs_available:
        return
    if options.bitrate is None and options.crf not in (None, EncodeOptions.crf):
        raise ConfigError(f"{codec} has no CRF ({', '.join(CRF_RANGES)} have one); give it a bitrate instead"
                          if codec in BITRATE_CODECS else f"{codec} has no CRF ({', '.join(CRF_RANGES)} have one)")
    if options.preset and options.preset != EncodeOptions.preset:
        log.warning("%s has no presets (%s have them): --preset %s does nothing", codec, ", ".join(CRF_RANGES), options.preset)
    if options.bitrate is None and codec in BITRATE_CODECS:
        log.warning("%s has no CRF: it encodes at FFmpeg's default bitrate, 200 kb/s, whatever the picture's size; "
                    "give it a bitrate (--bitrate 8M, say)", codec)


def tag_for_apple(output: av.container.OutputContainer, stream: av.video.stream.VideoStream) -> None:
    """HEVC in MP4/MOV tagged hvc1: FFmpeg's default, hev1, is not played by Apple's players
    (QuickTime, Safari, iOS)."""
    if output.format.name.startswith(("mov", "mp4")) and stream.codec_context.codec.canonical_name == "hevc":
        stream.codec_context.codec_tag = "hvc1"


def add_video_stream(
    output: av.container.OutputContainer,
    info: VideoInfo,
    codec: str,
    options: EncodeOptions,
    layout: Layout,
    width: int,
    height: int,
) -> av.video.stream.VideoStream:
    """The output video stream with the input's time base, frame rate, colour, aspect and rotation,
    encoding at `options.bitrate` (bits/s) when given, else at its CRF. The colour is tagged
    explicitly as players read the input (vsr.media.colour.shown_colour: an untagged SD input is
    BT.601, which players would no longer assume at the upscaled size). VsrError for a bitrate that
    is not positive; ConfigError, with the encoder's reasons, when it refuses the settings."""
    _check_settings(codec, options)
    encoder_options = _encoder_options(codec, options)
    if codec == "libsvtav1":
        os.environ.setdefault(*SVT_QUIET)
    stream = output.add_stream(codec, rate=info.average_rate, options=encoder_options)
    stream.width, stream.height = width, height
    stream.pix_fmt = layout.pix_fmt
    stream.time_base = info.time_base
    ctx = stream.codec_context
    ctx.time_base = info.time_base
    ctx.thread_type = ENCODER_THREAD_TYPE
    if options.bitrate is not None:
        ctx.bit_rate = options.bitrate
    if info.average_rate:
        ctx.framerate = info.average_rate
    colour = shown_colour(info.colour, info.width, info.height, info.pix_fmt)
    ctx.color_primaries, ctx.color_trc, ctx.colorspace = colour.primaries, colour.transfer, colour.matrix
    ctx.color_range = encoded_range(colour, layout.pix_fmt)
    if info.sample_aspect_ratio:
        ctx.sample_aspect_ratio = info.sample_aspect_ratio
    tag_for_apple(output, stream)
    if info.display_matrix:
        # the rotation and mirror as they are; not the offset, which counts input pixels (FFmpeg writes 0)
        stream.set_display_matrix((*info.display_matrix[:6], 0, 0, info.display_matrix[8]))
    elif info.rotation:
        stream.set_display_rotation(info.rotation)
    given = [f"{key} {value}" for key, value in encoder_options.items() if key in ("crf", "preset")]
    if options.bitrate is not None:
        given.append(f"bitrate {options.bitrate}")
    settings = ", ".join([*given, layout.pix_fmt])
    # opened now, not with the output's header, so that a bad setting is not taken for a damaged input
    explained(ctx.open, f"the {codec} encoder cannot start ({settings})")
    return stream


def frame_from_planes(planes: list[np.ndarray], item: VideoItem, layout: Layout, time_base: Fraction) -> VideoFrame:
    """An encoder frame holding `planes` (Y first), stamped with the source frame's timestamp."""
    height, width = planes[0].shape
    frame = VideoFrame(width, height, layout.pix_fmt)
    for plane, array in zip(frame.planes, planes):
        plane_rows(plane, layout.dtype)[: array.shape[0], : array.shape[1]] = array
    frame.pts = item.pts
    frame.duration = item.duration
    frame.time_base = time_base
    return frame


def frame_from_rgb(rgb: np.ndarray, pts: int | None, time_base: Fraction) -> VideoFrame:
    """An encoder frame holding `rgb` ((H, W, 3) uint8), stamped with `pts` in `time_base` units
    (the encoder converts it to the stream's pixel format)."""
    frame = VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts, frame.time_base = pts, time_base
    return frame


class VideoFileWriter:
    """A file holding one encoded video stream and nothing else (`vsr bench` times the encoder with it).

        with VideoFileWriter(path, "mp4", info, codec, options, layout, width, height) as writer:
            for frame in frames:
                writer.write(frame)

    The stream is set up as `add_video_stream` does; leaving the block without an error flushes
    the encoder, and the file is closed either way.
    """

    def __init__(
        self, path: Path, container: str, info: VideoInfo, codec: str, options: EncodeOptions, layout: Layout,
        width: int, height: int,
    ) -> None:
        self._output = av.open(file_url(path), "w", format=container)
        try:
            self._stream = add_video_stream(self._output, info, codec, options, layout, width, height)
        except BaseException:
            self._output.close()
            raise

    def write(self, frame: VideoFrame) -> None:
        """Encode one frame and mux its packets."""
        self.encode(frame)

    def encode(self, frame: VideoFrame | None) -> None:
        """Encode `frame` (None: flush the encoder) and mux the packets that come out."""
        self._output.mux(self._stream.encode(frame))

    def __enter__(self) -> VideoFileWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if error is None:
                self.encode(None)
        finally:
            self._output.close()
