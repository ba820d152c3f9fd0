"""FFmpeg filters on the decoded frames, before upscaling: a chain such as "yadif,atadenoise".

    chain = VideoFilterGraph("yadif,atadenoise", "yuv420p", info)   # ConfigError now if the chain is bad
    for frame in decoded:
        for out in chain.push(frame): ...
    for out in chain.flush(): ...                                    # what the filters still held

The description is FFmpeg's filter-graph syntax restricted to one linear chain: filters separated
by commas, each `name` or `name=options`, with FFmpeg's quoting ('...') and backslash escapes; no
[labels] and no ';'. The chain runs as buffer → filters → format=<pix_fmt> → buffersink, so the
frames come out in the pipeline's pixel format, with the timestamps and time base the filters
give them (yadif=1, for one, doubles the time base's resolution).

The buffer source is told the input's frame rate and sample aspect ratio (fieldmatch and decimate
need the rate, scale keeps the aspect), which PyAV's `add_buffer` would leave out. `FilterStages`
runs several graphs one after the other as one frame filter (vsr.media.filterplan uses it for the
size-keeping chain and then the colour and aspect conversion).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter
from av import VideoFrame

from vsr.errors import ConfigError
from vsr.media.colour import RANGE_NAMES, holds_rgb
from vsr.media.explain import explained
from vsr.media.probe import Colour, VideoInfo

WHITESPACE = " \n\t\r"


class VideoFilterGraph:
    """A linear chain of FFmpeg video filters ending in `pix_fmt`; a `vsr.media.decode.FrameFilter`.

    `description`: the chain ("" for none: only the conversion to `pix_fmt`). `pix_fmt`: the pixel
    format the frames come out in (the pipeline's). `info`: the input the frames come from; when
    given, the whole graph is configured once for it now, so that a chain that cannot run on it
    (a crop larger than the frame, an audio filter) fails here rather than in the decode stage.
    Unknown filters and bad options always fail here. Raises ConfigError naming the description.
    `frame_rate`, `sample_aspect_ratio`: what the buffer source declares (default: the info's;
    without either, no rate and square pixels). `size`: the (width, height) the frames must come
    out at (default: the size they went in at; a chain that changes it is refused). `keep_range`:
    the frames come out in the range they went in at (where they are not RGB), as the pipeline's
    own conversion keeps it: FFmpeg's automatic one made full-range grey limited in a YUV format,
    still tagged full (a chain of the user's, which may set a range, is read instead).

    The graph itself is built from the first frame pushed (its size, format, time base, colour);
    after `flush` the next push starts a new graph. Use from one thread at a time.
    """

    def __init__(
        self, description: str, pix_fmt: str, info: VideoInfo | None = None, *, frame_rate: Fraction | None = None,
        sample_aspect_ratio: Fraction | None = None, size: tuple[int, int] | None = None, keep_range: bool = False,
    ) -> None:
        self.description = description
        self.pix_fmt = pix_fmt
        self.keep_range = keep_range
        self.chain = parse_filter_chain(description)
        self.frame_rate = frame_rate if frame_rate is not None else info.average_rate if info is not None else None
        aspect = sample_aspect_ratio if sample_aspect_ratio is not None else info.sample_aspect_ratio if info else None
        self.sample_aspect_ratio = aspect if aspect else Fraction(1, 1)
        self.size = size
        self._check_filters()
        self._graph: av.filter.Graph | None = None
        if info is not None:
            self._build(info.width, info.height, info.pix_fmt, info.time_base, info.colour.matrix, info.colour.range)

    def push(self, frame: VideoFrame) -> list[VideoFrame]:
        """Filter one decoded frame (it must carry a time_base); the frames ready so far, in order.
        ConfigError where a filter refuses the frames (colorspace an untagged or log transfer): on
        the first frame of a graph with FFmpeg's reason, which only its log gives."""
        graph = self._graph
        if graph is None:
            if frame.time_base is None:
                raise ValueError("frames pushed into a filter graph need a time_base")
            graph = self._graph = self._build(
                frame.width, frame.height, frame.format.name, frame.time_base, frame.colorspace, frame.color_range
            )

            def first() -> list[VideoFrame]:
                graph.vpush(frame)
                return self._pull()

            return self._same_size(explained(first, f"the filter graph {self.description!r} refuses the frames"), frame)
        try:
            graph.vpush(frame)
            return self._same_size(self._pull(), frame)
        except av.FFmpegError as exc:
            raise ConfigError(f"the filter graph {self.description!r} failed on a frame: {exc}") from None

    def flush(self) -> list[VideoFrame]:
        """End of the stream: the frames the filters still held (yadif's last frame, a temporal
        denoiser's window), in order. The next push starts afresh."""
        if self._graph is None:
            return []
        self._graph.vpush(None)
        frames = self._pull()
        self._graph = None
        return frames

    def _same_size(self, frames: list[VideoFrame], source: VideoFrame) -> list[VideoFrame]:
        """The job is planned for the input's size (or `size`): a chain that changes it (crop, scale) is refused."""
        for frame in frames:
            if self.size is not None:
                if (frame.width, frame.height) != self.size:
                    raise ConfigError(
                        f"the filter graph {self.description!r} gives {frame.width}x{frame.height} frames, "
                        f"not the {self.size[0]}x{self.size[1]} planned"
                    )
            elif (frame.width, frame.height) != (source.width, source.height):
                raise ConfigError(
                    f"the filter graph {self.description!r} changes the frame size ({source.width}x{source.height} → "
                    f"{frame.width}x{frame.height}); use filters that keep the size (the upscaling is --scale)"
                )
        return frames

    def _pull(self) -> list[VideoFrame]:
        assert self._graph is not None
        frames = []
        while True:
            try:
                frames.append(self._graph.vpull())
            except (BlockingIOError, EOFError):  # av's: the graph wants more input / has ended
                return frames

    def _check_filters(self) -> None:
        """Each filter exists and takes its options (without linking: sizes are not known yet)."""
        graph = av.filter.Graph()
        for name, options in self.chain:
            if name not in av.filter.filters_available:
                raise ConfigError(
                    f"no video filter named {name!r} in this FFmpeg build, in the filter graph {self.description!r}"
                )
            failure = f"bad options for {name} in the filter graph {self.description!r}"
            explained(lambda: graph.add(name, options), failure)

    def _build(
        self, width: int, height: int, pix_fmt: str, time_base: Fraction, colorspace: int, color_range: int
    ) -> av.filter.Graph:
        """buffer (frames of this kind) → the chain → format=pix_fmt → buffersink, configured."""
        graph = av.filter.Graph()

        def configure() -> None:
            source = graph.add("buffer", **self._buffer_arguments(
                width, height, pix_fmt, time_base, colorspace, color_range
            ))
            filters = [graph.add(name, options) for name, options in self.chain]
            output = f"pix_fmts={self.pix_fmt}"
            if self.keep_range and color_range in RANGE_NAMES and not holds_rgb(pix_fmt):
                output += f":color_ranges={RANGE_NAMES[color_range]}"
            graph.link_nodes(source, *filters, graph.add("format", output), graph.add("buffersink"))
            graph.configure()

        explained(configure, f"the filter graph {self.description!r} cannot run on {width}x{height} {pix_fmt} frames")
        return graph

    def _buffer_arguments(
        self, width: int, height: int, pix_fmt: str, time_base: Fraction, colorspace: int, color_range: int
    ) -> dict[str, str]:
        """The buffer source's options: the frames' kind, and the stream's rate and sample aspect ratio."""
        arguments = {
            "video_size": f"{width}x{height}", "pix_fmt": pix_fmt, "time_base": str(time_base),
            "pixel_aspect": f"{self.sample_aspect_ratio.numerator}/{self.sample_aspect_ratio.denominator}",
            "colorspace": str(colorspace), "range": str(color_range),
        }
        if self.frame_rate:
            arguments["frame_rate"] = f"{self.frame_rate.numerator}/{self.frame_rate.denominator}"
        return arguments


TAG_PROBE = r"setpts=FRAME_RATE*1073741824,crop=2:2:0:0,pad=w='round(min(sar\,15)*131072)':h=2"
"""Filters after a chain that write what PyAV does not show of its output (FFmpeg's frames and
links carry it, PyAV 18 reads neither): the frame rate as the first frame's timestamp in units of
2^-30, and the sample aspect ratio as the width of a 2-pixel crop padded to 2^17 pixels per unit."""


@dataclass(frozen=True)
class ChainTags:
    """What a filter chain's frames come out tagged with: their colour (as FFmpeg's enum values),
    the stream's frame rate (None: unknown) and sample aspect ratio."""

    colour: Colour
    frame_rate: Fraction | None
    sample_aspect_ratio: Fraction


class _TagProbe(VideoFilterGraph):
    """A chain followed by TAG_PROBE, whose frames are 2 pixels high by design."""

    def _same_size(self, frames: list[VideoFrame], source: VideoFrame) -> list[VideoFrame]:
        return frames


def chain_tags(
    description: str, pix_fmt: str, frames: Iterable[VideoFrame], *, frame_rate: Fraction | None,
    sample_aspect_ratio: Fraction | None,
) -> ChainTags | None:
    """The tags `description` gives the first frame it makes of `frames` (decoded frames, read
    until it makes one), the buffer source declaring `frame_rate` and `sample_aspect_ratio`; None
    when it makes none."""
    probe = _TagProbe(f"{description},{TAG_PROBE}", pix_fmt, frame_rate=frame_rate, sample_aspect_ratio=sample_aspect_ratio)
    out: list[VideoFrame] = []
    try:
        for frame in frames:
            out = probe.push(frame)
            if out:
                break
        out = out or probe.flush()
    except ConfigError as exc:  # named after the user's chain, not the probe's graph around it
        raise ConfigError(str(exc).replace(repr(probe.description), repr(description), 1)) from None
    if not out:
        return None
    first = out[0]
    rate = Fraction(first.pts, 1 << 30).limit_denominator(1001) if first.pts else None
    return ChainTags(
        Colour(first.color_primaries, first.color_trc, first.colorspace, first.color_range), rate,
        Fraction(first.width, 1 << 17).limit_denominator(256),
    )


PENDING_DURATIONS = 64
"""Durations of frames in kept until a frame comes out at their time (far more than a filter's delay)."""


class FilterStages:
    """Several filter graphs run one after the other as one `vsr.media.decode.FrameFilter`: what one
    gives goes into the next; `flush` flushes them in order. Counts the frames in and out.

    `spacing` (time base, step): the frames out of graph `spaced_after` (default: the last) are
    stamped anew, evenly `step` ticks of that time base apart from the first frame in's time
    (decimate spaces its frames evenly too, but from the first frame it keeps, which moves the
    whole video by a frame when it drops the first one); the graphs after it (a --vf chain of the
    user's, which may change the rate again) get them so. With `cycle` (decimate's: `cycle` frames
    in, one fewer out), each cycle's frames out start at the time of its first frame in, so a gap
    in the input (a dropout) stays where it was rather than closing up and moving the rest of the
    video ahead of its audio; a last incomplete cycle, which decimate keeps whole, keeps the frames'
    own spacing, so the video ends when it did.
    With `keep_durations` (a chain that gives one frame per frame), a frame out at the time of a
    frame in takes that frame's duration: a deinterlacer's last frame would otherwise last one
    field (w3fdif's does)."""

    def __init__(
        self, graphs: list[VideoFilterGraph], spacing: tuple[Fraction, int] | None = None, *, keep_durations: bool = False,
        spaced_after: int | None = None, cycle: int | None = None,
    ) -> None:
        self.graphs = graphs
        self.spacing = spacing
        self.cycle = cycle
        self.spaced_after = len(graphs) - 1 if spaced_after is None else spaced_after
        self.keep_durations = keep_durations
        self.frames_in = 0
        self.frames_out = 0
        self._start: int | None = None
        self._stamped = 0
        self._anchors: dict[int, int] = {}  # cycle → the time of its first frame in (spacing ticks), until stamped
        self._flushing = False
        self._durations: dict[Fraction, Fraction] = {}  # time of a frame in (s) → its duration (s), until it comes out

    def push(self, frame: VideoFrame) -> list[VideoFrame]:
        if self.spacing is not None and frame.pts is not None and frame.time_base:
            ticks = round(frame.pts * Fraction(frame.time_base) / self.spacing[0])
            if self._start is None:
                self._start = ticks
            if self.cycle and self.frames_in % self.cycle == 0:
                self._anchor(self.frames_in // self.cycle, ticks)
        if self.keep_durations and frame.pts is not None and frame.duration and frame.time_base:
            self._durations[frame.pts * Fraction(frame.time_base)] = frame.duration * Fraction(frame.time_base)
            if len(self._durations) > PENDING_DURATIONS:  # a chain that drops frames: stay bounded
                del self._durations[next(iter(self._durations))]
        self.frames_in += 1
        frames = [frame]
        for index, graph in enumerate(self.graphs):
            frames = self._spaced(index, [out for each in frames for out in graph.push(each)])
        return self._out(frames)

    def flush(self) -> list[VideoFrame]:
        self._flushing = True
        frames: list[VideoFrame] = []
        for index, graph in enumerate(self.graphs):
            frames = self._spaced(index, [out for each in frames for out in graph.push(each)] + graph.flush())
        frames = self._out(frames)
        self._start, self._stamped, self._anchors, self._flushing = None, 0, {}, False
        return frames

    def _spaced(self, index: int, frames: list[VideoFrame]) -> list[VideoFrame]:
        if self.spacing is not None and index == self.spaced_after:
            time_base = self.spacing[0]
            for number, frame in enumerate(frames, self._stamped):
                frame.pts, frame.duration = self._stamp(number)
                frame.time_base = time_base
            self._stamped += len(frames)
        return frames

    def _anchor(self, cycle: int, ticks: int) -> None:
        """Where `cycle` starts: on the even spacing from the cycle before, unless its first frame
        in is more than half a step after that (a gap, or timestamps that jump), then there.
        (The input's own times, rounded to its time base, would move every cycle by that rounding;
        and a cycle never starts before the last one's frames are through, whatever the times say.)"""
        if self._anchors:
            last = max(self._anchors)
            expected = self._anchors[last] + (cycle - last) * (self.cycle - 1) * self.spacing[1]
            if ticks - expected <= self.spacing[1] / 2:
                ticks = expected
        self._anchors[cycle] = ticks

    def _stamp(self, number: int) -> tuple[int, int]:
        """The pts and duration (spacing ticks) of the `number`th frame out of the spaced graph."""
        step = self.spacing[1]
        if not self.cycle:
            return (self._start or 0) + number * step, step
        out = self.cycle - 1
        cycle, place = divmod(number, out)
        complete = self.frames_in // self.cycle
        if self._flushing and cycle >= complete:  # the last, incomplete cycle: one frame out per frame in
            cycle, place, step = complete, number - complete * out, round(step * out / self.cycle)
        known = max((c for c in self._anchors if c <= cycle), default=None)  # a cycle whose first frame had no time: from the last one
        first, base = (known, self._anchors[known]) if known is not None else (0, self._start or 0)
        for done in [c for c in self._anchors if c < first]:
            del self._anchors[done]
        return base + (cycle - first) * out * self.spacing[1] + place * step, step

    def _out(self, frames: list[VideoFrame]) -> list[VideoFrame]:
        if self.keep_durations:
            for frame in frames:
                if frame.pts is not None and frame.time_base:
                    duration = self._durations.pop(frame.pts * Fraction(frame.time_base), None)
                    if duration is not None:
                        frame.duration = round(duration / Fraction(frame.time_base))
        self.frames_out += len(frames)
        return frames


def parse_filter_chain(description: str) -> list[tuple[str, str | None]]:
    """(filter name, options or None) for each filter of a comma-separated chain, FFmpeg's quoting
    undone one level as its graph parser does. ConfigError for an empty filter, [labels] or ';'."""
    filters: list[tuple[str, str | None]] = []
    position = _skip_whitespace(description, 0)
    while position < len(description):
        name, position = _token(description, position, "=,;[]")
        options = None
        if position < len(description) and description[position] == "=":
            options, position = _token(description, position + 1, "[],;")
        if not name:
            raise ConfigError(_chain_problem(description, position))
        filters.append((name, options))
        position = _skip_whitespace(description, position)
        if position < len(description):
            if description[position] != ",":
                raise ConfigError(_chain_problem(description, position))
            position = _skip_whitespace(description, position + 1)
            if position == len(description):
                raise ConfigError(_chain_problem(description, position))
    return filters


def _chain_problem(description: str, position: int) -> str:
    if position < len(description) and description[position] in "[];":
        return f"the filter graph {description!r} is not a simple chain: [labels] and ';' are not supported"
    return f"the filter graph {description!r} has an empty filter (two commas, or one at an end)"


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in WHITESPACE:
        position += 1
    return position


def _token(text: str, position: int, terminators: str) -> tuple[str, int]:
    """FFmpeg's av_get_token: the text from `position` up to a terminator outside quotes, with
    '...' quoting and backslash escapes undone and unquoted whitespace at either end trimmed."""
    position = _skip_whitespace(text, position)
    out: list[str] = []
    kept = 0  # characters that trimming must not remove (quoted or escaped)
    while position < len(text) and text[position] not in terminators:
        char = text[position]
        position += 1
        if char == "\\" and position < len(text):
            out.append(text[position])
            position += 1
            kept = len(out)
        elif char == "'":
            closing = text.find("'", position)
            closing = len(text) if closing < 0 else closing
            out.extend(text[position:closing])
            position = min(closing + 1, len(text))
            kept = len(out)
        else:
            out.append(char)
    while len(out) > kept and out[-1] in WHITESPACE:
        out.pop()
    return "".join(out), position
