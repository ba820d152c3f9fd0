"""`vsr bench`: each stage's throughput on the same frames, then the whole pipeline on them.

Stages run alone, one after another, on the first N frames of a clip: decode (demux, decode,
planes), model (the luma engine alone), upscale stage (engine + bicubic chroma + building the
encoder's frame), encode (encode + mux of those frames); the pipeline end to end on the same N
frames; and a naive baseline of the same model as popular video scripts run it: one thread, batch 1,
fp32, RGB conversions on the CPU, a synchronise after every frame, same encoder settings. Two ceilings put the end-to-end figure in context: where all stages share the same
cores (a CPU machine), 1 / Σ(time per frame); where they run side by side, the slowest stage.
In multi-frame mode the model stage is the model with the alignment and fusion of the windows
(`vsr.engine.windows.WindowFusion`, as the pipeline runs them), and there is no naive baseline;
nor with --ensemble (the naive loop runs the model once a frame: its ratio would compare 8 passes to 1).
"""

from __future__ import annotations

import copy
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsr.engine.cpu import heap_given_back_after
from vsr.engine.fusion import LearnedFusion
from vsr.engine.windows import WindowFusion, engine_fuser
from vsr.errors import ConfigError
from vsr.media.decode import DecodeStats, read_items
from vsr.media.encode import VideoFileWriter, VideoFrame, frame_from_planes, frame_from_rgb
from vsr.options import RunOptions, UpscaleOptions
from vsr.media.frames import VideoItem
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.mux import container_format
from vsr.pipeline.image import rgb_to_ycbcr, ycbcr_to_rgb
from vsr.pipeline.memory import available_memory
from vsr.media.probe import first_video_stream, frame_duration, open_input, probe
from vsr.pipeline.plan import Job, plan_job
from vsr.pipeline.result import default_output_path
from vsr.pipeline.run import run_job
from vsr.pipeline.upscale import collect_planes, submit_items, upscale_planes


@dataclass(frozen=True)
class StageTiming:
    name: str
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ms_per_frame(self) -> float:
        return 1000 * self.seconds / max(1, self.frames)


BUSY_MARGIN = 1.15
"""How far the end-to-end rate may exceed the slowest stage's before the timings are called unreliable
(the machine varies by ±15 % between runs)."""


@dataclass(frozen=True)
class BenchReport:
    job: Job
    decode: StageTiming
    model: StageTiming
    upscale: StageTiming
    encode: StageTiming
    end_to_end: StageTiming
    naive: StageTiming | None
    peak_rss_mb: float
    """Peak resident memory of the process after the end-to-end run (before the stages hold frames)."""

    @property
    def sequential_ceiling_fps(self) -> float:
        """All stages on the same cores: 1 / (sum of per-frame stage times)."""
        return 1.0 / sum(s.seconds / s.frames for s in (self.decode, self.upscale, self.encode))

    @property
    def parallel_ceiling_fps(self) -> float:
        """Stages side by side: the slowest one sets the pace."""
        return min(s.fps for s in (self.decode, self.upscale, self.encode))

    def lines(self) -> list[str]:
        out = [f"clip   {self.job.describe()}, {self.end_to_end.frames} frames"]
        for stage in (self.decode, self.model, self.upscale, self.encode, self.end_to_end, self.naive):
            if stage is not None:
                out.append(f"{stage.name:<22}{stage.fps:9.2f} fps  {stage.ms_per_frame:9.1f} ms/frame")
        seq, par, e2e = self.sequential_ceiling_fps, self.parallel_ceiling_fps, self.end_to_end.fps
        out.append(f"{'ceiling, shared cores':<22}{seq:9.2f} fps  end-to-end = {e2e / seq:.2f} x this")
        out.append(f"{'ceiling, slowest stage':<22}{par:9.2f} fps  end-to-end = {e2e / par:.2f} x this")
        if e2e > BUSY_MARGIN * par and self.job.engine.device == "cpu":  # a GPU run overlaps batches, the timing does not
            out.append("note: the whole run beat its slowest stage timed alone, which it cannot: the machine was "
                       "busy while the stages were timed; run again when it is idle")
        if self.naive is not None:
            out.append(f"{'speed-up over naive':<22}{e2e / self.naive.fps:9.2f} x")
        out.append(f"{'peak host memory':<22}{self.peak_rss_mb:9.0f} MB (end-to-end run)")
        if self.job.engine.device == "cuda":
            out.append(f"{'peak GPU memory':<22}{torch.cuda.max_memory_allocated() / 2**20:9.0f} MB")
        return out


@heap_given_back_after()
def run_benchmark(
    source: str | Path, options: UpscaleOptions = UpscaleOptions(), *, frames: int = 48, naive: bool = True
) -> BenchReport:
    """Time each stage and the whole pipeline on the first `frames` frames of `source`, upscaled
    as `options` say into the container `vsr upscale` writes it to by default (its codec, and its
    audio copied or re-encoded as there; the run group is not used); `naive` is ignored in
    multi-frame mode and self-ensembled.
    Raises a VsrError subclass."""
    source = Path(source)
    if source.suffix.lower() in IMAGE_SUFFIXES:  # FFmpeg reads it as a one-frame video: "1 frames" timed
        raise ConfigError(f"vsr bench measures a video's frames; {source.name} is a still image (time it with vsr upscale)")
    suffix = default_output_path(source, options.model.scale).suffix
    job = plan_job(probe(source), container_format(Path(f"out{suffix}")), options)
    check_memory_for_stages(job, frames)
    naive = naive and job.mode == "single" and not options.model.ensemble
    with tempfile.TemporaryDirectory(prefix="vsr-bench-") as folder:
        _warm_up(job)
        started = time.perf_counter()
        count = run_job(job, Path(folder) / f"end_to_end{suffix}", RunOptions(max_frames=frames))
        end_to_end = StageTiming("end-to-end", count, time.perf_counter() - started)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        items, decode = _time_decode(job, frames)
        timed = _time_windows if job.mode == "multi" else _time_upscale
        model_timing, upscale, encoder_frames = timed(job, items)
        del items
        encode = _time_encode(job, encoder_frames, Path(folder) / f"encode{suffix}")
        del encoder_frames
        baseline = _time_naive(job, frames, Path(folder) / f"naive{suffix}") if naive else None
    return BenchReport(job, decode, model_timing, upscale, encode, end_to_end, baseline, peak_mb)


STAGE_MEMORY_SHARE = 0.5
"""Of the memory available, what the frames held between the per-stage timings may take."""


def check_memory_for_stages(job: Job, frames: int) -> None:
    """ConfigError when the frames the per-stage timings hold (every decoded frame, then every
    upscaled one, to time each stage on its own) would not fit in half the memory available."""
    count = min(frames, job.info.frame_count or frames)
    sample = np.dtype(job.layout.dtype).itemsize
    input_bytes = job.info.width * job.info.height * 3 * sample  # up to 4:4:4
    output_bytes = job.width * job.height * 3 * sample
    needed, available = count * (input_bytes + output_bytes), available_memory()
    if available is not None and needed > STAGE_MEMORY_SHARE * available:
        most = max(1, int(STAGE_MEMORY_SHARE * available // (input_bytes + output_bytes)))
        raise ConfigError(f"--frames {frames} at {job.width}x{job.height} holds about {needed / 1e9:.1f} GB of frames "
                          f"for the per-stage timings, more than this machine has to spare; use --frames {most} or fewer")


def _warm_up(job: Job) -> None:
    """A batch through the engine first, two on CUDA (one per pinned buffer): kernel selection,
    autotuning and pinning host memory are not throughput."""
    if isinstance(job.engine, LearnedFusion):
        return  # no single-frame batches: its first window is part of the measurement
    info = job.info
    luma = np.zeros((info.height, info.width), dtype=job.layout.dtype)
    for _ in range(2 if job.engine.device == "cuda" else 1):
        job.engine.collect(job.engine.submit([luma] * job.batch_size))


def _time_decode(job: Job, frames: int) -> tuple[list[VideoItem], StageTiming]:
    started = time.perf_counter()
    items = [
        item for item in read_items(job.info.path, job.layout, [], DecodeStats(), frame_duration(job.info), frames)
        if isinstance(item, VideoItem)
    ]
    return items, StageTiming("decode", len(items), time.perf_counter() - started)


def _time_upscale(job: Job, items: list[VideoItem]) -> tuple[StageTiming, StageTiming, list[VideoFrame]]:
    engine, batch = job.engine, job.batch_size
    model_seconds = 0.0
    encoder_frames = []
    started = time.perf_counter()
    for first in range(0, len(items), batch):
        chunk = items[first : first + batch]
        model_started = time.perf_counter()
        handle = submit_items(engine, chunk)
        # wait for the batch (collecting twice is harmless); on the CPU the chroma comes after
        if engine.upscales_chroma:
            engine.collect_frames(handle)  # type: ignore[attr-defined]
        else:
            engine.collect(handle)
        model_seconds += time.perf_counter() - model_started
        for item, planes in zip(chunk, collect_planes(engine, handle, chunk, job.layout)):
            encoder_frames.append(frame_from_planes(planes, item, job.layout, job.info.time_base))
    total = time.perf_counter() - started
    model_name = "model + GPU chroma" if engine.upscales_chroma else "model (luma only)"
    return (
        StageTiming(model_name, len(items), model_seconds),
        StageTiming("upscale stage", len(items), total),
        encoder_frames,
    )


def _time_windows(job: Job, items: list[VideoItem]) -> tuple[StageTiming, StageTiming, list[VideoFrame]]:
    """The multi-frame upscale stage: the windows' model, alignment and fusion (luma), then the
    chroma and the encoder's frames."""
    scale = job.model.scale
    windows = WindowFusion(engine_fuser(job.engine, scale, job.frames, job.layout.max_value), job.engine,
                           batch_size=job.batch_size)
    started = time.perf_counter()
    lumas = [luma for item in items for luma in windows.push(item.planes[0])] + windows.finish()
    model_seconds = time.perf_counter() - started
    encoder_frames = [
        frame_from_planes(upscale_planes(luma, item.planes[1:], scale, job.layout), item, job.layout, job.info.time_base)
        for item, luma in zip(items, lumas)
    ]
    return (
        StageTiming("model + fusion (luma)", len(items), model_seconds),
        StageTiming("upscale stage", len(items), time.perf_counter() - started),
        encoder_frames,
    )


def _time_encode(job: Job, frames: list[VideoFrame], path: Path) -> StageTiming:
    started = time.perf_counter()
    with VideoFileWriter(
        path, job.container, job.info, job.codec, job.encode_options, job.layout, job.width, job.height
    ) as output:
        for frame in frames:
            output.write(frame)
    return StageTiming("encode", len(frames), time.perf_counter() - started)


def _time_naive(job: Job, frames: int, path: Path) -> StageTiming:
    """The same model as popular video scripts run it: one thread does everything, one frame at a
    time, fp32, RGB ↔ YCbCr in numpy, chroma resized by torch, a device synchronise after each
    frame, RGB frames handed to the encoder (which converts them back to YUV)."""
    module = copy.deepcopy(job.model.module).float().eval()
    device = torch.device(job.engine.device)
    module.to(device)
    scale = job.model.scale
    started = time.perf_counter()
    count = 0
    with open_input(job.info.path) as source, VideoFileWriter(
        path, job.container, job.info, job.codec, job.encode_options, job.layout, job.width, job.height
    ) as output:
        for frame in source.decode(first_video_stream(source, job.info.path)):
            rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
            ycc = torch.from_numpy(rgb_to_ycbcr(rgb)).permute(2, 0, 1)[None].to(device)
            with torch.no_grad():
                y = module(ycc[:, :1])
                cbcr = F.interpolate(ycc[:, 1:], scale_factor=scale, mode="bicubic", align_corners=False)
            if device.type == "cuda":
                torch.cuda.synchronize()
            up = torch.cat([y, cbcr], 1)[0].permute(1, 2, 0).cpu().numpy()
            rgb_up = np.clip(ycbcr_to_rgb(up) * 255.0 + 0.5, 0, 255).astype(np.uint8)
            if rgb_up.shape[:2] != (job.height, job.width):
                rgb_up = cv2.resize(rgb_up, (job.width, job.height), interpolation=cv2.INTER_NEAREST)
            output.write(frame_from_rgb(rgb_up, frame.pts, job.info.time_base))
            count += 1
            if count >= frames:
                break
    return StageTiming("naive baseline", count, time.perf_counter() - started)
