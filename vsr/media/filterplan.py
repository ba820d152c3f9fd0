"""The FFmpeg filters of a job, decided before the first frame: deinterlacing (auto-detected or
named), inverse telecine, deblocking, denoising, the user's `--vf` chain, then the colour matrix
and square pixels; and what the frames are after them (size, rate, time base, colour, aspect).

    plan = plan_filters(info, options.filters, "yuv420p")   # ConfigError now if a filter cannot run
    plan.output.frame_count, plan.output.time_base           # the frames the upscaler will get
    frame_filter = plan.frame_filter()                       # a fresh vsr.media.decode.FrameFilter, or None

The filters run as two graphs one after the other (vsr.media.filters.FilterStages): first the
size-keeping chain, in this order:

    fieldmatch[,<deinterlacer> on the frames still combed],decimate   (--ivtc)
    or <deinterlacer>                                                   (--deinterlace)
    deblock                                                             (--deblock)
    <denoiser>                                                          (--denoise)
    the --vf chain

then the conversion to the BT.709 matrix (--colour-matrix bt709) and to square pixels
(--square-pixels). A filter that changes the frame count changes the rate and, where the input's
time base cannot hold the new frame times exactly, the time base: one frame per field doubles the
rate (and halves a time base whose frame duration is odd); decimate keeps 4 of every 5 frames and
spaces them evenly from the first frame's time, as FFmpeg's decimate does, each cycle of 5 from its
own first frame's time where that moved (a dropout: vsr.media.filters.FilterStages).
"""

from __future__ import annotations

import dataclasses
import re
import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from vsr.errors import ConfigError
from vsr.media import colour
from vsr.media.filters import ChainTags, FilterStages, VideoFilterGraph, chain_tags
from vsr.media.probe import Colour, VideoInfo, first_video_stream, frame_duration, open_input
from vsr.options import FilterOptions

log = logging.getLogger(__name__)

DEINTERLACE_FRAMES = 60
"""Frames that automatic deinterlacing looks at (their flags, else FFmpeg's idet)."""

DENOISE_PRESETS = {
    "light": "nlmeans=s=2:p=3:r=7",
    "medium": "nlmeans=s=3:p=3:r=7",
    "strong": "nlmeans=s=10:p=5:r=9",
}
"""--denoise presets, chosen by measurement (scripts/filter_costs.py; README, "Filters, colour and
aspect"): the nlmeans settings that gained most at luma noise sigma 5, 10 and 20 on Big Buck
Bunny and two panned photos. atadenoise (temporal) gained little there: with thresholds wide
enough for that noise it smears moving detail, so it is left to --vf. "temporal" is not an FFmpeg
filter: the pipeline's own stage after these (vsr.misr.denoise), motion-compensated."""

EIGHT_BIT_FILTERS = frozenset({"nlmeans", "fieldmatch", "pp7", "spp", "fspp", "uspp"})
"""FFmpeg filters that take 8-bit samples only: deeper frames are converted down and back up
around them by FFmpeg, in silence (the --denoise presets and --ivtc among them)."""

IVTC_CYCLE = 5
"""decimate drops one frame of every 5 (3:2 pulldown: 30 telecined frames a second → 24 film frames)."""

# AVFieldOrder
FIELD_UNKNOWN, FIELD_PROGRESSIVE, FIELD_TT, FIELD_BB, FIELD_TB, FIELD_BT = range(6)
TOP_FIRST = {FIELD_TT, FIELD_TB}
"""Field orders whose top field is displayed first. FFmpeg's documentation says the first letter is
the coded order, but its command line writes "tb" for top-first frames and "bt" for bottom-first
ones, and its raw and v210 decoders read them so: files say it that way."""
BOTTOM_FIRST = {FIELD_BB, FIELD_BT}


@dataclass(frozen=True)
class Interlacing:
    """How the frames are interlaced: `parity` "tff", "bff" or "auto" (each frame's own flags);
    `all_frames` False deinterlaces only the frames flagged interlaced; `evidence` says how it was found."""

    parity: str
    all_frames: bool
    evidence: str


@dataclass(frozen=True)
class FilterPlan:
    """The filters of a job. `chain`: the size-keeping graph ("" for none); `reshape`: the colour
    matrix and square-pixel conversion ("" for none); `pix_fmt`: the format the frames come out in;
    `source`: the input; `output`: the frames after the filters (size, rate, time base, frame count,
    colour as tagged on the output, sample aspect ratio); `rate`: frames out per frame in (1, 2 for
    one frame per field, 4/5 for inverse telecine); `steps`: what runs, for the log; `after_chain`:
    the frames between the two graphs (the source's size with the chain's rate, colour and aspect)."""

    chain: str
    reshape: str
    pix_fmt: str
    source: VideoInfo
    output: VideoInfo
    rate: Fraction = Fraction(1)
    steps: tuple[str, ...] = ()
    after_chain: VideoInfo | None = None
    user_filter: str = ""
    """The user's --vf chain, the end of `chain` ("" for none; how many frames it gives is not known)."""

    @property
    def changes_count(self) -> bool:
        """Whether the frames out are not the frames in, one for one."""
        return self.rate != 1

    def frame_filter(self) -> FilterStages | None:
        """A fresh frame filter running this plan (None when there is nothing to run: the planes
        step converts the pixel format)."""
        if not self.chain and not self.reshape:
            return None
        spaced = self.rate not in (1, 2)  # decimate: evenly spaced from the first frame's time
        chains = [self.chain]
        if spaced and self.user_filter:  # the user's chain gets the spaced frames: it may change the rate again
            chains = [self.chain[: -len(self.user_filter)].rstrip(","), self.user_filter]
        rate = self.source.average_rate
        graphs = [VideoFilterGraph(
            chain, self.pix_fmt, frame_rate=rate * self.rate if rate and number else rate,
            sample_aspect_ratio=self.source.sample_aspect_ratio,
            keep_range=not (self.user_filter and chain.endswith(self.user_filter)),  # the user's chain is read, not held
        ) for number, chain in enumerate(chains)]
        if self.reshape:
            middle = self.after_chain or self.source
            graphs.append(VideoFilterGraph(
                self.reshape, self.pix_fmt, frame_rate=middle.average_rate,
                sample_aspect_ratio=middle.sample_aspect_ratio, size=(self.output.width, self.output.height),
            ))
        spacing = None
        if spaced:
            seconds = exact_frame_seconds(self.source) / self.rate
            spacing = (self.output.time_base, round(seconds / self.output.time_base))
        return FilterStages(graphs, spacing, keep_durations=self.rate == 1 and not self.user_filter, spaced_after=0,
                            cycle=IVTC_CYCLE if spaced else None)

    def expected_frames(self, frames_in: int) -> int:
        """The frames out for `frames_in` frames in, when the whole input is read."""
        return _expected(frames_in, self.rate)

    def describe(self) -> str:
        """One line for the log: the steps, or "no filters"."""
        return ", ".join(self.steps) if self.steps else "no filters"


HDR_TRANSFERS = {16: "PQ", 18: "HLG"}
"""FFmpeg's transfer numbers of HDR video, which its colorspace filter does not take."""


def _check_colorspace_takes(info: VideoInfo, shown: colour.Colour, pix_fmt: str) -> None:
    """ConfigError, before any work, for what FFmpeg's colorspace filter would refuse mid-run."""
    if shown.transfer in HDR_TRANSFERS:
        raise ConfigError(f"--colour-matrix bt709 cannot convert {info.path.name}: it is HDR ({HDR_TRANSFERS[shown.transfer]} "
                          "transfer), which FFmpeg's colorspace filter does not take; leave it out (the output is "
                          "tagged with the source's matrix)")
    if info.width % 2 or info.height % 2:  # whatever the chroma subsampling
        raise ConfigError(f"--colour-matrix bt709 needs an even frame size (FFmpeg's colorspace filter); "
                          f"{info.path.name} is {info.width}x{info.height}")


TELECINE_RATES = (Fraction(30000, 1001), Fraction(30))
"""The frame rates 3:2 pulldown makes of film (23.976 or 24 fps)."""


def check_telecine_rate(info: VideoInfo) -> None:
    """A warning for --ivtc on a video whose frame rate is not what 3:2 pulldown makes: decimate
    drops one frame in five of it, real frames included."""
    rate = frames_rate(info)
    if rate and not any(abs(rate / telecine - 1) < Fraction(1, 100) for telecine in TELECINE_RATES):
        log.warning("--ivtc undoes 3:2 pulldown (film telecined to 29.97 or 30 fps), but %s runs at %.3f fps: "
                    "one frame in five is dropped, real ones included", info.path.name, float(rate))


def plan_filters(info: VideoInfo, options: FilterOptions, pix_fmt: str) -> FilterPlan:
    """The filters `options` ask for on `info`, the frames coming out in `pix_fmt`. Automatic
    deinterlacing reads the first frames of the input now. Raises ConfigError for options that do
    not go together, a filter missing from this FFmpeg, or a chain that cannot run on the input."""
    options.check()
    chain: list[str] = []
    steps: list[str] = []
    rate = Fraction(1)
    field_rate = options.deinterlace_rate == "field"
    if options.ivtc:
        check_telecine_rate(info)
        chain.append("fieldmatch")
        if options.deinterlace != "off":
            name = "bwdif" if options.deinterlace == "auto" else options.deinterlace
            chain.append(deinterlacer(name, Interlacing("auto", False, "fieldmatch's combed frames"), False))
        chain.append(f"decimate=cycle={IVTC_CYCLE}")
        rate = Fraction(IVTC_CYCLE - 1, IVTC_CYCLE)
        steps.append("inverse telecine (fieldmatch, decimate)" + (f" with {chain[1].split('=')[0]}" if len(chain) == 3 else ""))
    elif options.deinterlace != "off":
        if options.deinterlace == "auto":
            interlacing = detect_interlacing(info)
            name = "bwdif"
        else:
            interlacing, name = asked_interlacing(info), options.deinterlace
        if interlacing is None:
            steps.append("deinterlace auto: progressive")
            if field_rate:
                log.warning("%s is progressive: --deinterlace-rate field has no fields to make frames of "
                            "(force --deinterlace bwdif for combed video encoded as progressive)", info.path.name)
        else:
            chain.append(deinterlacer(name, interlacing, field_rate))
            rate = Fraction(2) if field_rate else rate
            parity = "" if interlacing.parity == "auto" else f" {interlacing.parity}"
            steps.append(f"{name}{parity} ({interlacing.evidence}), one frame per {'field' if field_rate else 'frame'}")
    if options.deblock:
        chain.append("deblock")
        steps.append("deblock")
    if options.denoise in DENOISE_PRESETS:
        chain.append(DENOISE_PRESETS[options.denoise])
        steps.append(f"denoise {options.denoise}")
    source_rate = info.average_rate if rate == 1 else frames_rate(info)  # a new rate counts from the frames'
    after_chain = dataclasses.replace(
        info, pix_fmt=pix_fmt, time_base=output_time_base(info, rate),
        average_rate=source_rate * rate if source_rate else None,
    )
    if options.video:
        chain.append(options.video)
        steps.append(f"--vf {options.video!r}")
        VideoFilterGraph(options.video, pix_fmt, info)  # a chain that cannot run fails naming it alone, not the probe
        after_chain = _tagged_by_user_chain(after_chain, options.video)

    _warn_if_eight_bit(chain, pix_fmt, info.path.name)
    shown = colour.shown_colour(after_chain.colour, info.width, info.height, info.pix_fmt)
    if colour.holds_rgb(info.pix_fmt):  # read as FFmpeg converts it, but for what the user's chain set of it
        shown = dataclasses.replace(shown, **{
            field.name: getattr(after_chain.colour, field.name) for field in dataclasses.fields(Colour)
            if getattr(after_chain.colour, field.name) != getattr(info.colour, field.name)})
    reshape: list[str] = []
    out_colour = shown
    if options.colour_matrix == "bt709" and not pix_fmt.startswith("gray"):
        conversion, out_colour = colour.to_bt709_matrix(shown)
        if conversion:
            _check_colorspace_takes(info, shown, pix_fmt)
            reshape.append(conversion)
            steps.append(f"colour {colour.describe(shown)} → bt709")
    width, height, sar = info.width, info.height, after_chain.sample_aspect_ratio
    if options.square_pixels:
        width, height = square_size(info.width, info.height, sar, pix_fmt)
        if (width, height) != (info.width, info.height):
            reshape.append(f"scale=w={width}:h={height}:flags=lanczos,setsar=1")
            steps.append(f"square pixels {info.width}x{info.height} (SAR {sar}) → {width}x{height}")
        sar = Fraction(1, 1) if sar else sar
    if options.denoise == "temporal":
        steps.append("denoise temporal (motion-compensated, vsr's own stage)")

    output = dataclasses.replace(
        after_chain, width=width, height=height, colour=out_colour, sample_aspect_ratio=sar,
        frame_count=None if info.frame_count is None else _expected(info.frame_count, rate),
    )
    plan = FilterPlan(
        ",".join(chain), ",".join(reshape), pix_fmt, info, output, rate, tuple(steps), after_chain, options.video,
    )
    _check_runs(plan)
    if options.deinterlace == "off" and not options.ivtc and not _deinterlaces(options.video):
        _warn_if_declared_interlaced(info)  # once the filters are known to run: an error stays one line
    return plan


def _warn_if_eight_bit(chain: list[str], pix_fmt: str, name: str) -> None:
    """A warning when frames deeper than 8 bits go through a filter of EIGHT_BIT_FILTERS."""
    bits = av.VideoFormat(pix_fmt).components[0].bits
    used = sorted({element.split("=")[0].strip() for part in chain for element in part.split(",")} & EIGHT_BIT_FILTERS)
    if bits > 8 and used:
        log.warning("%s works on 8-bit samples only: the %d-bit frames of %s lose their extra precision "
                    "through it (banding may come back)", " and ".join(used), bits, name)


TAG_TRIAL_FRAMES = 120
"""Decoded frames at most that a --vf chain is tried on to read the tags it sets (one that drops
the first frames, select for one, needs more than the first)."""


def _tagged_by_user_chain(frames: VideoInfo, description: str) -> VideoInfo:
    """`frames` (what goes into the user's --vf chain) as the chain tags them: the colour fields,
    frame rate and sample aspect ratio it sets (setparams, colorspace, setsar, fps, ...), read by
    running it on the input's first frames (damaged packets skipped) until it makes one, beside an
    empty chain on the first (a field that differs between the two is the chain's doing; the rest
    stay as probed, untagged fields untagged). A chain that makes no frame is warned about."""
    declared = {"frame_rate": frames.average_rate, "sample_aspect_ratio": frames.sample_aspect_ratio}
    with open_input(frames.path) as container:
        decoded = _decoded_frames(container, first_video_stream(container, frames.path), TAG_TRIAL_FRAMES)
        first = next(decoded, None)
        if first is None:
            return frames  # nothing decodes: the run says so
        plain = chain_tags("null", frames.pix_fmt, [first], **declared)
        tagged = chain_tags(description, frames.pix_fmt, itertools.chain([first], decoded), **declared)
    if plain is None or tagged is None:
        log.warning("the --vf chain %r made no frame of the first %d, so what it sets of the colour, aspect ratio "
                    "and frame rate is not known: the output is tagged as the input", description, TAG_TRIAL_FRAMES)
        return frames
    changed = tagged.frame_rate != plain.frame_rate
    rate = tagged.frame_rate if changed else frames.average_rate
    finer = time_base_holding(frames.time_base, 1 / Fraction(rate)) if changed and rate else frames.time_base
    return dataclasses.replace(
        frames, colour=_changed_colour(frames.colour, plain, tagged), average_rate=rate, time_base=finer,
        sample_aspect_ratio=(tagged.sample_aspect_ratio if tagged.sample_aspect_ratio != plain.sample_aspect_ratio
                             else frames.sample_aspect_ratio),
    )


def _decoded_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                    limit: int) -> Iterator[av.VideoFrame]:
    """The first `limit` frames of `stream` that decode (a damaged packet is skipped)."""
    count = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError):
            continue
        for frame in frames:
            yield frame
            count += 1
            if count == limit:
                return


def _changed_colour(colour: Colour, plain: ChainTags, tagged: ChainTags) -> Colour:
    """`colour` with each field the chain changed (`tagged` against `plain`) taken from the chain."""
    fields = {name: getattr(tagged.colour, name) for name in ("primaries", "transfer", "matrix", "range")
              if getattr(tagged.colour, name) != getattr(plain.colour, name)}
    return dataclasses.replace(colour, **fields)


def _expected(frames_in: int, rate: Fraction) -> int:
    """Frames out for frames in: twice as many (one per field), or decimate's 4 of every 5 (a last
    incomplete cycle of n frames keeps n, or n - 1 when it is complete)."""
    if rate == 2:
        return 2 * frames_in
    if rate != 1:
        return frames_in - frames_in // IVTC_CYCLE
    return frames_in


def _check_runs(plan: FilterPlan) -> None:
    """Each graph configured once for the frames it will get: what cannot run fails now."""
    if plan.chain:
        VideoFilterGraph(plan.chain, plan.pix_fmt, plan.source)
    if plan.reshape:
        reshape = VideoFilterGraph(plan.reshape, plan.pix_fmt, plan.after_chain, size=(plan.output.width, plan.output.height))
        try:
            reshape.push(_blank_frame(plan.after_chain))  # colorspace refuses some transfers and matrices only on a frame
        except ConfigError as exc:
            if "colorspace=" not in plan.reshape:
                raise
            reason = str(exc).split(" refuses the frames: ", 1)[-1]
            raise ConfigError(f"--colour-matrix bt709 cannot convert {plan.source.path.name}: FFmpeg's colorspace "
                              f"filter refuses it ({reason}); leave it out (the output is tagged with the source's "
                              "matrix)") from None


def _blank_frame(frames: VideoInfo) -> av.VideoFrame:
    """A frame as `frames` describes them: size, format, time base and colour tags."""
    frame = av.VideoFrame(frames.width, frames.height, frames.pix_fmt)
    frame.pts, frame.time_base = 0, frames.time_base
    tags = frames.colour
    frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc = tags.matrix, tags.range, tags.primaries, tags.transfer
    return frame


def deinterlacer(name: str, interlacing: Interlacing, field_rate: bool) -> str:
    """The chain element for deinterlacer `name` (bwdif, yadif, w3fdif): one frame per frame or per
    field (the defaults differ between them, so the mode is always given), the parity, and whether
    every frame or only the frames flagged interlaced are deinterlaced. One frame per field always
    deinterlaces every frame: the deinterlacers give a frame flagged progressive only one frame
    out, and the rate would not be even."""
    if name == "w3fdif":
        mode = "field" if field_rate else "frame"
    else:
        mode = "send_field" if field_rate else "send_frame"
    deint = "all" if interlacing.all_frames or field_rate else "interlaced"
    return f"{name}=mode={mode}:parity={interlacing.parity}:deint={deint}"


def square_size(width: int, height: int, sar: Fraction | None, pix_fmt: str) -> tuple[int, int]:
    """The size that shows `width`x`height` pixels of aspect `sar` with square pixels, stretching
    the short side (no sample is thrown away) and rounding to what the chroma subsampling allows."""
    if not sar or sar == 1:
        return width, height
    step = 1 if pix_fmt.startswith("gray") or "444" in pix_fmt else 2
    if sar > 1:
        width = max(step, math.floor(width * sar / step + Fraction(1, 2)) * step)
    else:
        height = max(step, math.floor(height / sar / step + Fraction(1, 2)) * step)
    return width, height


def output_time_base(info: VideoInfo, rate: Fraction) -> Fraction:
    """The input's time base, or a finer one where it cannot hold the new frame times exactly:
    half a frame (one per field) or five quarters of one (decimate)."""
    if rate == 1:
        return info.time_base
    return time_base_holding(info.time_base, exact_frame_seconds(info) / rate)


def time_base_holding(time_base: Fraction, frame_seconds: Fraction) -> Fraction:
    """`time_base`, or the coarsest fraction of it in which frames `frame_seconds` apart fall on whole ticks."""
    return time_base / Fraction(frame_seconds / time_base).denominator


BASE_RATE_ABOVE_AVERAGE = Fraction(6, 5)
"""A base rate this far above the average: the average counts a dropout or a pause (an MP4's is
frames over duration), the frames themselves come at the base rate."""


def frames_rate(info: VideoInfo) -> Fraction | None:
    """The rate the frames come at: the average, or the base rate where that is well above it (an
    MP4 with a dropout averages 20 fps for 29.97)."""
    if info.base_rate and (not info.average_rate or info.base_rate > info.average_rate * BASE_RATE_ABOVE_AVERAGE):
        return info.base_rate
    return info.average_rate


def exact_frame_seconds(info: VideoInfo) -> Fraction:
    """One frame's duration in seconds as the frame rate says it (1001/30000 at 29.97 fps), not
    rounded to the time base (a Matroska input's 1/1000 would make it 33 ms, and frames spaced
    from it would drift from the audio by 1 % after inverse telecine)."""
    rate = frames_rate(info)
    if rate:
        return 1 / Fraction(rate)
    return frame_duration(info) * Fraction(info.time_base)


def detect_interlacing(info: VideoInfo, frames: int = DEINTERLACE_FRAMES) -> Interlacing | None:
    """Whether `info`'s video is interlaced, and how (None: progressive). The first `frames`
    frames' own flags decide; else the stream's field order; a stream that declares none is
    measured by FFmpeg's idet on those frames (interlaced when more of them look interlaced
    than progressive, at least 3)."""
    with open_input(info.path) as container:
        stream = first_video_stream(container, info.path)
        order = _field_order(stream)
        idet = VideoFilterGraph("idet", info.pix_fmt, frame_rate=info.average_rate)
        flagged = seen = 0
        measured: dict[str, str] = {}
        try:
            for frame in container.decode(stream):
                flagged += bool(frame.interlaced_frame)
                seen += 1
                if order == FIELD_UNKNOWN and frame.time_base is not None:
                    measured = _last_metadata(idet.push(frame), measured)
                if seen >= frames:
                    break
        except (av.FFmpegError, ValueError):
            pass  # damaged input: judge on the frames read
        if order == FIELD_UNKNOWN and seen:
            measured = _last_metadata(idet.flush(), measured)
    if flagged:  # before the stream's order: FFmpeg takes an H.264 stream's from its first picture
        return Interlacing("auto", False, f"{flagged} of the first {seen} frames flagged interlaced")
    if order == FIELD_PROGRESSIVE:
        return None
    if order in TOP_FIRST or order in BOTTOM_FIRST:
        return Interlacing("tff" if order in TOP_FIRST else "bff", True, "the stream's field order")
    counts = {kind: float(measured.get(f"lavfi.idet.multiple.{kind}", 0)) for kind in ("tff", "bff", "progressive")}
    interlaced = counts["tff"] + counts["bff"]
    log.info("idet on the first %d frames: %d tff, %d bff, %d progressive", seen, counts["tff"], counts["bff"], counts["progressive"])
    if interlaced >= 3 and interlaced > counts["progressive"]:
        parity = "tff" if counts["tff"] >= counts["bff"] else "bff"
        return Interlacing(parity, True, f"idet: {math.floor(interlaced)} of {seen} frames interlaced")
    return None


def asked_interlacing(info: VideoInfo) -> Interlacing:
    """A deinterlacer asked for by name runs on every frame, with each frame's own field order
    where the first frames are flagged interlaced (a recording may change order at an ad break),
    else the order the stream declares or idet measures (a capture in FFV1 or v210 flags no
    frame, and FFmpeg would take it as top field first)."""
    found = detect_interlacing(info)
    if found is not None and found.parity != "auto":
        return Interlacing(found.parity, True, f"asked for; {found.evidence}")
    return Interlacing("auto", True, "asked for")


DEINTERLACERS = ("bwdif", "yadif", "w3fdif", "kerndeint", "nnedi", "estdif", "fieldmatch", "bwdif_cuda", "yadif_cuda")


def _deinterlaces(chain: str) -> bool:
    """Whether the user's --vf chain names a deinterlacer."""
    return any(re.search(rf"(?<![\w-]){name}(?![\w-])", chain) for name in DEINTERLACERS)


def _warn_if_declared_interlaced(info: VideoInfo) -> None:
    """A warning where the stream says it is interlaced (its declared field order, or its first
    frame's flag: DV declares no order) and nothing deinterlaces it: upscaled as it is, its two
    fields mix into enlarged combing."""
    if info.field_order not in (FIELD_UNKNOWN, FIELD_PROGRESSIVE) or info.first_frame_interlaced:
        log.warning("%s says it is interlaced: upscaled as it is, its two fields mix into combing; "
                    "--deinterlace auto deinterlaces it first", info.path.name)


def _field_order(stream: av.video.stream.VideoStream) -> int:
    return stream.codec_context.field_order if stream.codec_context is not None else FIELD_UNKNOWN


def _last_metadata(frames: list[av.VideoFrame], previous: dict[str, str]) -> dict[str, str]:
    return dict(frames[-1].metadata) if frames else previous
