"""upscale_video(): plan the job, run its stages, and either commit the output or leave nothing."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from vsr.engine.cpu import CPU_TILE, heap_given_back_after
from vsr.engine.windows import engine_fuser
from vsr.errors import ConfigError, OutputError, PipelineError
from vsr.media import decode, mux
from vsr.media.decode import DecodeStats, leading_frames_lost
from vsr.media.encode import VideoFrame, add_video_stream, frame_from_planes
from vsr.media.filters import FilterStages
from vsr.media.frames import VideoItem
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.probe import VideoInfo, frame_duration, open_input, probe
from vsr.misr.denoise import TemporalDenoiser
from vsr.models import SRModel, default_scale
from vsr.options import EncodeOptions, ModelOptions, RunOptions, UpscaleOptions, options_from_keywords
from vsr.pipeline.denoise import DenoiseStats, denoise_frames
from vsr.pipeline.image import feature_channels, upscale_image
from vsr.pipeline.memory import available_memory, readable_size
from vsr.pipeline.plan import Job, plan_job
from vsr.pipeline.queue import StageQueue
from vsr.pipeline.read import read_stage
from vsr.pipeline.result import UpscaleResult, default_output_path
from vsr.pipeline.stages import Stages
from vsr.pipeline.upscale import UpscaleStats, upscale_frames
from vsr.pipeline.window import WindowStats, upscale_windows
from vsr.pipeline.write import write_stage

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""Called with (frames written, total frames or None) about ten times a second."""

OutputCheck = Callable[[Path, int], None]
"""Called with the finished temporary file and the frames written, before the file is renamed
onto its target; what it raises fails the job (and the temporary file is removed)."""


@dataclass(frozen=True)
class Scope:
    """What part of the input a job covers: the frames with start_pts <= pts < end_pts (video
    time base; None: unbounded), and with `video_only` the video stream alone (no audio or
    subtitles), as a segment of vsr.segments needs. The default: the whole input.

    Context: the frames from `context_start_pts` up to start_pts, and the first `context_after`
    frames at or after end_pts, are read and filtered (a deinterlacer sees its neighbours) and, in
    multi-frame mode, fused as the neighbours of the frames in scope, but not written, so that a
    segment's frames come out as they do in a run over the whole input."""

    start_pts: int | None = None
    end_pts: int | None = None
    video_only: bool = False
    context_start_pts: int | None = None
    context_after: int = 0

    @property
    def whole(self) -> bool:
        """Whether every frame of the input is in scope."""
        return self.start_pts is None and self.end_pts is None


def upscale_video(
    input: str | Path,
    output: str | Path | None = None,
    *,
    scale: int | None = None,
    model: str | Path | SRModel | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    ensemble: bool = False,
    codec: str | None = None,
    crf: int | None = 18,
    preset: str | None = "medium",
    pix_fmt: str | None = None,
    overwrite: bool = False,
    queue_size: int = 16,
    max_frames: int | None = None,
    progress: Progress | None = None,
    mode: str = "single",
    frames: int = 5,
    debug_dir: str | Path | None = None,
    deinterlace: str = "off",
    deinterlace_rate: str = "frame",
    denoise: str = "off",
    deblock: bool = False,
    ivtc: bool = False,
    colour_matrix: str = "keep",
    square_pixels: bool = False,
    options: UpscaleOptions | None = None,
) -> UpscaleResult:
    """Upscale every frame of a video (or a still image) by `scale`, keeping audio, timing and metadata.

    `model` is a registered name (default: the best shipped model for the scale), the path of a
    weight file, or a loaded SRModel. `scale` None: the options' (when given), else the model's
    own (a weight file's, a loaded model's), else 4. The output defaults to `<stem>_x<scale><ext>`
    beside the input (in `output` when that is a folder); its container follows the extension. The file appears only when complete. `progress(written,
    total)` is called as frames are written (total None where unknown); `overwrite` replaces an
    existing output. Returns an UpscaleResult (output, frames, seconds of the run, model, device,
    precision, size).
    `max_frames` stops after that many frames (a preview; the other streams stop there too).
    `ensemble` runs the model on the 8 flips and rotations of every frame and averages them.
    `mode` "multi" aligns and fuses the `frames` (odd) frames around each frame (`vsr.misr`);
    `debug_dir` then receives the alignment confidence maps of the first few frames.
    `deinterlace` … `square_pixels`: FFmpeg filters before upscaling and the output's colour
    matrix and aspect (vsr.options.FilterOptions).

    `options` holds all of these (vsr.options.UpscaleOptions, and filters); a keyword left at its
    default defers to it, a keyword that contradicts it raises ConfigError. Raises a VsrError
    subclass (InputError, OutputError, UnsupportedModelError, ConfigError, PipelineError) on failure.
    """
    loaded = model if isinstance(model, SRModel) else None
    if loaded is not None and options is not None and options.model.name is not None:
        raise ConfigError(
            f"model={loaded.name!r} (a loaded model) conflicts with options.model.name={options.model.name!r}; "
            "give one or the other"
        )
    optioned = options is not None and options.model.scale != ModelOptions.scale  # set there, not left at 4
    if scale is not None and optioned and scale != options.model.scale:  # scale=4 too (its keyword default is None)
        raise ConfigError(f"scale={scale} conflicts with options.model.scale={options.model.scale}; give one or the other")
    if scale is None:  # with options, theirs
        scale = options.model.scale if options is not None else loaded.scale if loaded is not None else default_scale(model)
    options = options_from_keywords(
        options, scale=scale, model=None if loaded else model, device=device, precision=precision,
        batch_size=batch_size, ensemble=ensemble, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, overwrite=overwrite,
        queue_size=queue_size, max_frames=max_frames, mode=mode, frames=frames, debug_dir=debug_dir,
        deinterlace=deinterlace, deinterlace_rate=deinterlace_rate, denoise=denoise, deblock=deblock, ivtc=ivtc,
        colour_matrix=colour_matrix, square_pixels=square_pixels,
    )
    options.validate()  # before the output is looked at: the options' mistake is the one said
    source = Path(input)
    target = Path(output) if output is not None else default_output_path(source, options.model.scale)
    if target.is_dir():  # a folder: the output goes in it, under the name it would have beside the input
        target = target / default_output_path(source, options.model.scale).name
    if source.suffix.lower() in IMAGE_SUFFIXES:
        check_still_options(options, f"the still image {source.name}")
        return upscale_image(
            source, target, scale=options.model.scale, model=loaded or options.model.name,
            device=options.model.device, overwrite=options.run.overwrite, ensemble=options.model.ensemble,
            progress=progress,
        )
    info = probe(source)  # input errors first: "song.m4a has no video stream", not "cannot write song_x2.m4a"
    container = mux.container_format(target)
    mux.check_output_path(source, target, options.run.overwrite)
    with mux.reserve_output(target) as temp, heap_given_back_after():  # before the model loads: a racing run fails now
        job = plan_job(info, container, options, model=loaded)
        log.info("%s", job.describe())
        started = time.perf_counter()
        written = run_job(job, target, options.run, progress=progress, temp=temp)
    return UpscaleResult(
        target, written, time.perf_counter() - started, job.model.name, job.engine.device, job.engine.precision,
        job.width, job.height,
    )


def check_still_options(options: UpscaleOptions, still: str) -> None:
    """ConfigError for options that apply to videos only (filters, encoder settings, multi-frame, a
    preview): given for `still` ("the still image a.png"), they would be ignored in silence."""
    nothing_to_do = {("deinterlace", "auto"), ("denoise", "temporal")}  # on a still (--restore asks for both)
    active = options.filters.active()
    asked = [name for name in active if (name, getattr(options.filters, name)) not in nothing_to_do]
    if not asked and active:  # said, not ignored in silence: a still has no fields or neighbours
        log.info("%s: nothing to deinterlace or denoise temporally in one picture (%s): the model only",
                 still, " and ".join(f"--{name} {getattr(options.filters, name)}" for name in active))
    if asked:
        given = options.filters.video or ", ".join(asked)
        raise ConfigError(f"video filters ({given!r}) apply to videos, not to {still}")
    if video_only := _video_options_given(options):
        verb = "applies" if len(video_only) == 1 else "apply"
        raise ConfigError(f"{' and '.join(video_only)} {verb} to videos, not to {still}")


def _video_options_given(options: UpscaleOptions) -> list[str]:
    """The options given that only a video takes (a still would silently ignore them)."""
    plain = EncodeOptions()
    given = {
        "--mode multi": options.multi_frame.mode == "multi",
        "--precision": options.model.precision not in (ModelOptions.precision, "fp32"),  # a still runs in fp32
        "--batch-size": options.model.batch_size is not None,
        "--max-frames": options.run.max_frames is not None,
        **{f"--{field.replace('_', '-')}": getattr(options.encode, field) != getattr(plain, field)
           for field in ("codec", "crf", "preset", "pix_fmt", "bitrate")},
    }
    return [name for name, on in given.items() if on]


X264_LOOKAHEAD = {"ultrafast": 0, "superfast": 0, "veryfast": 10, "faster": 20, "fast": 30, "medium": 40,
                  "slow": 50, "slower": 60, "veryslow": 60, "placebo": 60}
"""libx264's rc-lookahead per preset: the frames it holds ahead of the one it encodes."""
OUTPUT_FRAMES_BESIDES_QUEUE = 19
"""Output-size frames held besides the queue's (the batch, the encoder's threads and B-frames);
with the x264 look-ahead's below, measured: 960x540 → 3840x2160 bicubic, 785 MB peak at
ultrafast and 2061 MB at medium (about 350 MB of it the process before any frame), 6.5 GB at
medium for 1920x1080 → 7680x4320."""
FRAMES_PER_LOOKAHEAD_FRAME = 2.6
"""Output-size frames of memory per frame of x264's look-ahead (the frame, its half-size copy, analysis)."""


def check_memory_for_video(job: Job, queue_size: int, max_frames: int | None = None) -> None:
    """OutputError before any work when the frames a run holds (the queue of upscaled frames, the
    batch, the encoder's look-ahead) would not fit in the memory available (vsr.pipeline.memory):
    past it, the kernel kills the process without a word. Nothing when the memory is not known.
    Codecs other than libx264 are counted as its preset medium; a preview (`max_frames`) or a
    short clip counts no more frames than it has."""
    available = available_memory()
    if available is None:
        return
    sample = np.dtype(job.layout.dtype).itemsize
    frame = sum(w * h for w, h in job.layout.plane_sizes(job.width, job.height)) * sample
    lookahead = X264_LOOKAHEAD.get(job.encode_options.preset or "medium", 40) if job.codec == "libx264" else 40
    frames = [n for n in (max_frames, job.filtered.frame_count) if n]  # a short clip or a preview holds fewer

    def held(look: int) -> int:
        return int(frame * min([queue_size + OUTPUT_FRAMES_BESIDES_QUEUE + FRAMES_PER_LOOKAHEAD_FRAME * look,
                                *(FRAMES_PER_LOOKAHEAD_FRAME * n for n in frames)]))

    needed = held(lookahead)
    extra = _batch_beyond_default(job)
    if extra and needed + extra > available:
        raise OutputError(
            f"a batch of {job.batch_size} frames holds about {readable_size(extra)} more than the default batch of "
            f"{job.default_batch_size}, past the "
            f"{readable_size(available)} of memory available: use a smaller --batch-size"
        )
    if needed > available:
        faster = f" (libx264 --preset ultrafast: about {readable_size(held(0))})" if job.codec == "libx264" else ""
        raise OutputError(
            f"upscaling to {job.width}x{job.height} holds about {readable_size(needed)} of frames (the queue and the "
            f"encoder's look-ahead), more than the {readable_size(available)} of memory available: use a faster "
            f"--preset{faster} or a smaller --scale, or free memory"
        )


FEATURE_BYTES = 4
"""A batch's model working memory per input pixel and channel of the model's widest layer (measured:
espcn x4 at 320x240, 13.5 MB more a frame of batch)."""


def _batch_beyond_default(job: Job) -> int:
    """The host memory a --batch-size larger than the default holds beyond it (frames out, and on
    the CPU the model's feature maps, at most a tile's a frame); the default's are in the measured
    figures of check_memory_for_video."""
    beyond = job.batch_size - job.default_batch_size
    if beyond <= 0 or not job.default_batch_size:
        return 0
    sample = np.dtype(job.layout.dtype).itemsize
    frame_out = sum(w * h for w, h in job.layout.plane_sizes(job.width, job.height)) * sample
    features = 0
    if job.engine.device == "cpu":  # a GPU's feature maps are in its own memory
        module = getattr(job.model, "module", None)
        pixels = min(job.filtered.width * job.filtered.height, CPU_TILE * CPU_TILE)
        features = pixels * (feature_channels(module) if module is not None else 1) * FEATURE_BYTES
    return beyond * (frame_out + features)


def run_job(
    job: Job, target: Path, options: RunOptions = RunOptions(), *, progress: Progress | None = None,
    temp: Path | None = None, scope: Scope = Scope(), check: OutputCheck | None = None,
) -> int:
    """Run the decode, upscale and encode stages of a planned job and return the frames written.
    The output appears at `target` only if all went well; on any failure (a VsrError, a
    PipelineError naming the stage, or an interruption such as KeyboardInterrupt) the stages are
    stopped and the temporary file is removed. `temp`: the partial file that mux.reserve_output
    yielded for `target` (reserved here when not given). `scope`: the part of the input to
    upscale (default: all of it); `check`: run on the finished file before it is renamed."""
    if temp is None:
        with mux.reserve_output(target) as reserved:
            return run_job(job, target, options, progress=progress, temp=reserved, scope=scope, check=check)
    check_memory_for_video(job, options.queue_size, options.max_frames)
    info, layout, filtered = job.info, job.layout, job.filtered
    if not scope.whole and job.filters.changes_count:
        raise ConfigError(
            f"filters that change the frame count ({job.filters.describe()}) cannot run on a part of the input "
            "(segments): run without --segment-seconds"
        )
    stages = Stages()
    output: mux.OutputContainer | None = None
    try:
        with open_input(info.path) as templates:
            output = mux.open_output(temp, job.container, exact_time_base=None if scope.whole else info.time_base)
            video, streams = mux.set_up_streams(
                templates, output, job.container, job.codec,
                lambda: add_video_stream(output, filtered, job.codec, job.encode_options, layout, job.width, job.height),
                video_only=scope.video_only,
            )
            if scope.whole:
                mux.copy_container_metadata(templates, output, chapters=options.max_frames is None)
            # a segment keeps the source's clock; its join moves the whole
            shift = mux.video_shift(info.start_pts, info.time_base, templates if scope.whole else None, streams.kept)
            if shift > 0:
                start = info.start_pts * Fraction(info.time_base)
                log.warning("the video starts at %.3f s, before 0%s: every stream is moved %.3f s later, in sync",
                            float(start), "" if shift == -start else f" (another stream at {-float(shift):.3f} s)", float(shift))
            elif shift < 0:
                log.info("the %s clock starts at %.3f s: every stream is moved to start at 0, in sync",
                         info.format_name, -float(shift))
            muxer = mux.Muxer(output, video, streams, shift=shift)
            decoded, upscaled = DecodeStats(), UpscaleStats()
            frames_q: StageQueue = stages.queue(options.queue_size)
            encoded_q: StageQueue = stages.queue(options.queue_size)
            max_frames = options.max_frames

            def make_frame(planes: list, item: Any) -> VideoFrame:
                return frame_from_planes(planes, item, layout, filtered.time_base)

            frame_filter = job.filters.frame_filter()
            summary = logging.INFO if scope.whole else logging.DEBUG  # a segment's counts hold its context frames
            context = _Context(scope, keep=job.mode == "multi" or job.denoise is not None)
            stages.start("decode", lambda: read_stage(context.bounded(decode.read_items(
                info.path, layout, streams.kept, decoded, frame_duration(filtered), max_frames, frame_filter=frame_filter,
                start_pts=context.read_start, end_pts=context.read_end, filtered_time_base=filtered.time_base,
            )), frames_q, stages.stop))
            denoised, windows = DenoiseStats(), WindowStats()
            if job.denoise is not None:
                decoded_q, frames_q = frames_q, stages.queue(options.queue_size)
                stages.start("denoise", _denoise_stage(job, decoded_q, frames_q, stages, context.written, denoised))
            stages.start("upscale", (lambda: upscale_frames(
                job.engine, layout, job.batch_size, make_frame, frames_q, encoded_q, stages.stop, upscaled
            )) if job.mode == "single" else _multi_frame_stage(
                job, make_frame, frames_q, encoded_q, stages, upscaled, context.written, windows,
            ))
            stages.start("encode", lambda: write_stage(encoded_q, muxer))
            total = min(filtered.frame_count or max_frames or 0, max_frames or 1 << 62) or None
            total = total if scope.whole else None
            stages.wait(on_tick=None if progress is None else lambda: progress(muxer.frames, total))
        if progress is not None and total is not None and muxer.frames != total:
            progress(muxer.frames, muxer.frames)  # the total was an estimate (a variable rate): the bar ends full
        if decoded.frames - context.frames != muxer.frames:
            raise PipelineError("pipeline", f"decoded {decoded.frames - context.frames} frames but wrote {muxer.frames}")
        _check_filtered_count(job, frame_filter, complete=max_frames is None and scope.whole)
        if job.video_filter and decoded.dropped_frames:  # the chain's doing more likely than the file's
            log.warning("%d frame(s) left the --vf chain with the timestamp of the frame before and were dropped "
                        "(a chain that speeds the video up does this in a coarse time base such as AVI's)",
                        decoded.dropped_frames)
            decoded.dropped_frames = 0
        if decoded.leading_frames and scope.whole:  # a segment's own check says it of the segment
            log.warning("%s", leading_frames_lost(decoded.leading_frames))
        if (damage := decoded.damage_summary(muxer.dropped_packets)) is not None:
            log.warning("%s", damage)
        if decoded.gaps > decode.LISTED_PROBLEMS:
            log.warning("%d gaps in the video's timestamps in all (the first %d listed above)", decoded.gaps, decode.LISTED_PROBLEMS)
        if max_frames is None and scope.whole:
            _warn_if_cut_short(info, decoded)
        if check is not None:
            check(temp, muxer.frames)
        mux.commit_output(temp, target, options.overwrite)
        if job.denoise is not None:  # once the run is through: a failed or stopped one says one line, why
            log.log(summary, "%s", denoised.describe())
        if windows.cuts:
            log.log(summary, "multi-frame: %d scene cut(s) reset the window", len(windows.cuts))
        return muxer.frames
    except BaseException:  # the reservation removes the temporary file
        stages.stop_all()
        if output is not None:  # not under a stage still writing to it: when the last one ends
            stages.when_ended(partial(mux.close_quietly, output))
        raise


CUT_SHORT_FRAMES = 3
"""How many frames earlier than its header says a video may end (or 1 % of it, if more) before the
run warns that it was cut short."""


def _warn_if_cut_short(info: VideoInfo, decoded: DecodeStats) -> None:
    """A warning when the video ended well before its header says it does (a file cut short by a
    failed copy or download: the output holds what was there)."""
    end = decoded.decoded_end_seconds or decoded.end_seconds  # before the filters: a --vf chain may retime (setpts)
    if info.declared_seconds is None or end is None:
        return
    start = info.start_pts * info.time_base
    lasted = float(max(end, end - start))  # Matroska's DURATION tag is an end time
    frame_seconds = float(1 / info.average_rate) if info.average_rate else 0.04
    if lasted < info.declared_seconds - max(CUT_SHORT_FRAMES * frame_seconds, 0.01 * info.declared_seconds):
        log.warning("the video ended at %.2f s but its header says %.2f s: is the file cut short? "
                    "(the output holds what was there)", lasted, info.declared_seconds)


def _check_filtered_count(job: Job, frame_filter: FilterStages | None, complete: bool) -> None:
    """The frames that came out of the filters are as many as the frames that went in make
    (twice as many one per field, 4 of 5 after decimate), when the whole input was read and no
    --vf chain of the user's (which may drop or add frames) ran."""
    if frame_filter is None:
        return
    frames_in, frames_out = frame_filter.frames_in, frame_filter.frames_out
    if frames_in != frames_out and complete:  # a preview stops mid-stream: the counts then say nothing
        log.info("filters: %d frames in, %d out (%s)", frames_in, frames_out, job.filters.describe())
    if complete and not job.video_filter and frames_out != job.filters.expected_frames(frames_in):
        raise PipelineError(
            "decode", f"the filters ({job.filters.describe()}) made {frames_out} frames of {frames_in}, "
            f"not the {job.filters.expected_frames(frames_in)} expected"
        )


class _Context:
    """The frames a scope reads beyond its own (Scope.context_start_pts, context_after): where
    reading starts and ends, which frames are written, and how many were read as context only.
    They pass through the filters (a deinterlacer sees the neighbours it would see in a whole
    run); `keep`: they also go on to the temporal denoising or multi-frame stage as neighbours, else
    they stop here."""

    def __init__(self, scope: Scope, keep: bool) -> None:
        self.scope, self.keep = scope, keep
        self.read_start = scope.context_start_pts if scope.context_start_pts is not None else scope.start_pts
        self.read_end = None if scope.context_after else scope.end_pts
        self.frames = 0

    def written(self, pts: int) -> bool:
        """Whether the frame at `pts` is in scope (written), not context."""
        start, end = self.scope.start_pts, self.scope.end_pts
        return (start is None or pts >= start) and (end is None or pts < end)

    def bounded(self, items: Iterator[Any]) -> Iterator[Any]:
        """`items` up to the last context frame after the scope, counting the context frames."""
        past_end = 0
        with contextlib.closing(items):
            for item in items:
                if isinstance(item, VideoItem) and not self.written(item.pts):
                    if self.scope.end_pts is not None and item.pts >= self.scope.end_pts:
                        if past_end == self.scope.context_after:
                            return
                        past_end += 1
                    self.frames += 1
                    if not self.keep:
                        continue
                yield item


def _denoise_stage(
    job: Job, source: StageQueue, sink: StageQueue, stages: Stages, written: Callable[[int], bool], stats: DenoiseStats,
) -> Callable[[], None]:
    """The temporal denoising stage (vsr.pipeline.denoise) between the reader and the upscaler,
    counting into `stats`; a segment's context frames go on only to the multi-frame stage."""
    assert job.denoise is not None
    denoiser = TemporalDenoiser(job.denoise, max_value=job.layout.max_value)

    def body() -> None:
        denoise_frames(denoiser, source, sink, stages.stop, stats, written=written, pass_context=job.mode == "multi")

    return body


def _multi_frame_stage(
    job: Job, make_frame: Callable, source: StageQueue, sink: StageQueue, stages: Stages, stats: UpscaleStats,
    written: Callable[[int], bool] | None = None, window_stats: WindowStats | None = None,
) -> Callable[[], None]:
    """The upscale stage of multi-frame mode (vsr.pipeline.window), fusing on the engine's device,
    counting into `window_stats`; `written(pts)`: whether a frame is written (else it is context only)."""
    fuser = engine_fuser(job.engine, job.model.scale, job.frames, job.layout.max_value)
    window_stats = window_stats if window_stats is not None else WindowStats()

    def body() -> None:
        try:
            upscale_windows(
                job.engine, fuser, job.layout, job.batch_size, make_frame, source, sink, stages.stop, window_stats,
                job.debug_dir, written=written,
            )
        finally:
            stats.frames, stats.batches = window_stats.frames, window_stats.batches

    return body
