"""upscale_video(): start the stages, watch them, and either commit the output or leave nothing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from vsr.errors import OutputError, PipelineError, UnsupportedModelError, VsrError
from vsr.engine.fusion import LearnedFusion
from vsr.models import SRModel, default_model_name, load_model
from vsr.models.multiframe import is_multi_frame
from vsr.media import mux
from vsr.media.decode import DecodeStats, decode_frames
from vsr.media.encode import DEFAULT_CODECS, add_video_stream, choose_pix_fmt, frame_from_planes
from vsr.options import EncodeOptions
from vsr.engine import LumaEngine, default_batch_size, make_engine
from vsr.media.frames import Layout
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.probe import VideoInfo, open_input, probe
from vsr.pipeline.queue import StageQueue, Stopped
from vsr.pipeline.result import UpscaleResult, default_output_path
from vsr.pipeline.upscale import UpscaleStats, upscale_frames

log = logging.getLogger(__name__)

SCALES = (2, 3, 4)
MODES = ("single", "multi")
STOP_GRACE_SECONDS = 0.8
Progress = Callable[[int, int | None], None]
"""Called with (frames written, total frames or None) about ten times a second."""


def resolve_model(model: str | SRModel | None, scale: int) -> SRModel:
    if scale not in SCALES:
        raise UnsupportedModelError(f"unsupported scale {scale}; use one of {', '.join(map(str, SCALES))}")
    if isinstance(model, SRModel):
        if model.scale != scale:
            raise UnsupportedModelError(f"model {model.name} is for scale {model.scale}, not {scale}")
        return model
    return load_model(model or default_model_name(scale), scale)


@dataclass(frozen=True)
class Job:
    """Everything decided before the first frame: input, model, engine, formats and sizes."""

    info: VideoInfo
    model: SRModel
    engine: LumaEngine | LearnedFusion
    container: str
    codec: str
    encode_options: EncodeOptions
    layout: Layout
    batch_size: int
    width: int
    height: int
    mode: str = "single"
    frames: int = 1

    def describe(self) -> str:
        info = self.info
        multi = f", multi-frame ({self.frames} frames)" if self.mode == "multi" else ""
        return (
            f"{info.path.name} {info.width}x{info.height} → {self.width}x{self.height}, model {self.model.name} "
            f"x{self.model.scale}{multi} on {self.engine.device} ({self.engine.precision}), batch {self.batch_size}, "
            f"{self.codec} {self.layout.pix_fmt}"
        )


def plan_job(
    info: VideoInfo,
    container: str,
    *,
    scale: int,
    model: str | SRModel | None,
    device: str,
    precision: str,
    batch_size: int | None,
    encode_options: EncodeOptions,
    mode: str = "single",
    frames: int = 5,
) -> Job:
    if batch_size is not None and batch_size < 1:
        raise VsrError(f"batch size must be at least 1, got {batch_size}")
    if mode not in MODES:
        raise VsrError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "multi":
        from vsr.misr import check_frames

        try:
            check_frames(frames)
        except ValueError as exc:
            raise VsrError(str(exc)) from None
    sr_model = resolve_model(model, scale)
    codec = encode_options.codec or DEFAULT_CODECS[container]
    layout = Layout(choose_pix_fmt(codec, info.pix_fmt, encode_options.pix_fmt))
    engine = _make_engine(sr_model, mode, frames, device, precision, layout.max_value)
    batch = batch_size or default_batch_size(engine, info.width, info.height)
    width, height = layout.even_size(info.width * scale, info.height * scale)
    if (width, height) != (info.width * scale, info.height * scale):
        log.warning(
            "%s needs even dimensions: padding %dx%d to %dx%d by repeating the last column/row",
            layout.pix_fmt, info.width * scale, info.height * scale, width, height,
        )
    return Job(
        info, sr_model, engine, container, codec, encode_options, layout, batch, width, height,
        mode, frames if mode == "multi" else 1,
    )


def _make_engine(model: SRModel, mode: str, frames: int, device: str, precision: str,
                 max_value: int) -> LumaEngine | LearnedFusion:
    """The single-frame engine, or for a multi-frame model (multi mode only) its LearnedFusion."""
    if not is_multi_frame(model.module):
        return make_engine(model, device, precision, max_value)
    if mode != "multi":
        raise VsrError(f"{model.name} is a multi-frame model (learned fusion): use it with --mode multi")
    engine = LearnedFusion(model, device, precision)
    if frames != engine.frames:
        raise VsrError(f"{model.name} fuses windows of {engine.frames} frames; use --frames {engine.frames}")
    return engine


def upscale_video(
    input: str | Path,
    output: str | Path | None = None,
    *,
    scale: int = 4,
    model: str | SRModel | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
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
) -> UpscaleResult:
    """Upscale every frame of a video (or a still image) by `scale`, keeping audio, timing and metadata.

    `model` is a registered name (default: the best shipped model for the scale) or a loaded
    SRModel. The output defaults to `<stem>_x<scale><ext>` beside the input; its container
    follows the extension. The file appears only when complete. Raises a VsrError subclass
    (InputError, OutputError, UnsupportedModelError, PipelineError) on failure.
    `max_frames` stops after that many frames (a preview; the other streams stop there too).
    `mode` "multi" aligns and fuses the `frames` (odd) frames around each frame (`vsr.misr`);
    `debug_dir` then receives the alignment confidence maps of the first few frames.
    """
    source = Path(input)
    target = Path(output) if output is not None else default_output_path(source, scale)
    if source.suffix.lower() in IMAGE_SUFFIXES:
        from vsr.pipeline.image import upscale_image

        return upscale_image(source, target, scale=scale, model=model, device=device, overwrite=overwrite)
    info = probe(source)  # input errors first: "song.m4a has no video stream", not "cannot write song_x2.m4a"
    container = mux.container_format(target)
    mux.check_output_path(source, target, overwrite)
    job = plan_job(
        info, container, scale=scale, model=model, device=device, precision=precision, batch_size=batch_size,
        encode_options=EncodeOptions(codec, crf, preset, pix_fmt), mode=mode, frames=frames,
    )
    log.info("%s", job.describe())
    started = time.perf_counter()
    frames = run_job(
        job, target, overwrite=overwrite, queue_size=queue_size, max_frames=max_frames, progress=progress,
        debug_dir=Path(debug_dir) if debug_dir is not None else None,
    )
    return UpscaleResult(
        target, frames, time.perf_counter() - started, job.model.name, job.engine.device, job.engine.precision,
        job.width, job.height,
    )


def run_job(
    job: Job,
    target: Path,
    *,
    overwrite: bool = False,
    queue_size: int = 16,
    max_frames: int | None = None,
    progress: Progress | None = None,
    debug_dir: Path | None = None,
) -> int:
    """Run the three stages for a planned job; the output appears at `target` only if all went well."""
    info, layout = job.info, job.layout
    temp = mux.temp_path_for(target)
    stop = threading.Event()
    failures: list[tuple[str, BaseException]] = []
    threads: list[threading.Thread] = []
    output: av.container.OutputContainer | None = None
    try:
        with open_input(info.path) as templates:
            try:
                output = av.open(str(temp), "w", format=job.container)
            except (OSError, av.FFmpegError) as exc:
                raise OutputError(f"cannot create the output file in {target.parent}: {exc}") from None
            try:
                video, streams = mux.map_streams(
                    templates, output, job.container,
                    lambda: add_video_stream(output, info, job.codec, job.encode_options, layout, job.width, job.height),
                )
            except (av.FFmpegError, ValueError) as exc:
                output.close()
                raise OutputError(f"cannot set up the {job.codec} encoder in {job.container}: {exc}") from None
            muxer = mux.Muxer(output, video, streams)
            decoded, upscaled = DecodeStats(), UpscaleStats()
            frames_q: StageQueue = StageQueue(queue_size, stop)
            encoded_q: StageQueue = StageQueue(queue_size, stop)

            def make_frame(planes: list, item: Any) -> av.VideoFrame:
                return frame_from_planes(planes, item, layout, info.time_base)

            stages: list[tuple[str, Callable[[], None]]] = [
                ("decode", lambda: decode_frames(
                    info.path, layout, frames_q, stop, streams.kept, decoded, frame_duration(info), max_frames
                )),
                ("upscale", (lambda: upscale_frames(
                    job.engine, layout, job.batch_size, make_frame, frames_q, encoded_q, stop, upscaled
                )) if job.mode == "single" else _multi_frame_stage(
                    job, make_frame, frames_q, encoded_q, stop, upscaled, debug_dir
                )),
                ("encode", lambda: mux.write_output(encoded_q, muxer)),
            ]
            for name, body in stages:
                thread = threading.Thread(target=_stage, args=(name, body, stop, failures), name=f"vsr-{name}", daemon=True)
                threads.append(thread)
                thread.start()
            total = min(info.frame_count or max_frames or 0, max_frames or 1 << 62) or None
            _watch(threads, stop, failures, muxer, total, progress)
        if decoded.frames != muxer.frames:
            raise PipelineError("pipeline", f"decoded {decoded.frames} frames but wrote {muxer.frames}")
        if decoded.skipped_packets or decoded.dropped_frames or decoded.lost_frames:
            log.warning(
                "damaged input: %d packet(s) could not be decoded, %d frame(s) were dropped and %d lost "
                "in the decoder; the output keeps the original timestamps",
                decoded.skipped_packets, decoded.dropped_frames, decoded.lost_frames,
            )
        mux.commit_output(temp, target, overwrite)
        return muxer.frames
    except BaseException:
        stop.set()
        _join(threads)
        if output is not None and not any(t.is_alive() for t in threads):
            _close_quietly(output)
        mux.remove_quietly(temp)
        raise


def _multi_frame_stage(
    job: Job, make_frame: Callable, source: StageQueue, sink: StageQueue, stop: threading.Event,
    stats: UpscaleStats, debug_dir: Path | None,
) -> Callable[[], None]:
    """The upscale stage of multi-frame mode (vsr.pipeline.window), fusing on the engine's device."""
    import torch

    from vsr.misr import MultiFrameSettings, MultiFrameSR
    from vsr.pipeline.window import WindowStats, upscale_windows

    device = "cuda" if job.engine.device == "cuda" else "cpu"
    fuser = MultiFrameSR(
        job.model.scale, MultiFrameSettings(frames=job.frames), max_value=job.layout.max_value, device=device,
        compute_dtype=torch.float16 if device == "cuda" and job.engine.precision != "fp32" else None,
    )
    window_stats = WindowStats()

    def body() -> None:
        try:
            upscale_windows(
                job.engine, fuser, job.layout, job.batch_size, make_frame, source, sink, stop, window_stats, debug_dir
            )
        finally:
            stats.frames, stats.batches = window_stats.frames, window_stats.batches
            if window_stats.cuts:
                log.info("multi-frame: %d scene cut(s) reset the window", len(window_stats.cuts))

    return body


def _close_quietly(output: av.container.OutputContainer) -> None:
    try:
        output.close()
    except Exception:  # the run has already failed; the file is about to be removed
        pass


def frame_duration(info: VideoInfo) -> int:
    """One frame's duration in time-base units (for frames that come without a timestamp)."""
    if not info.average_rate:
        return 1
    return max(1, round(1 / (info.average_rate * info.time_base)))


def _stage(name: str, body: Callable[[], None], stop: threading.Event, failures: list) -> None:
    try:
        body()
    except Stopped:
        pass
    except BaseException as exc:  # recorded and re-raised by the watching thread
        failures.append((name, exc))
        stop.set()


def _watch(
    threads: list[threading.Thread],
    stop: threading.Event,
    failures: list[tuple[str, BaseException]],
    muxer: mux.Muxer,
    total: int | None,
    progress: Progress | None,
) -> None:
    """Wait for the stages to finish, reporting progress; raise the first stage's failure."""
    while any(t.is_alive() for t in threads) and not stop.is_set():
        threads[-1].join(timeout=0.1)
        if progress is not None:
            progress(muxer.frames, total)
    if failures:
        _join(threads)
        name, exc = failures[0]
        if isinstance(exc, VsrError):
            raise exc
        raise PipelineError(name, f"{type(exc).__name__}: {exc}") from exc
    if progress is not None:
        progress(muxer.frames, total)


def _join(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
