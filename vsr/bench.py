"""`vsr bench`: each stage's throughput on the same frames, then the whole pipeline on them.

Stages run alone, one after another, on the first N frames of a clip: decode (demux, decode,
planes), model (the luma engine alone), upscale stage (engine + bicubic chroma + building the
encoder's frame), encode (encode + mux of those frames); then the pipeline end to end on the same
N frames. Two ceilings put the end-to-end figure in context: where all stages share the same
cores (a CPU machine), 1 / Σ(time per frame); where they run side by side, the slowest stage.
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av

from vsr.models import SRModel
from vsr.pipeline.decode import DecodeStats, read_items
from vsr.pipeline.encode import EncodeOptions, add_video_stream, frame_from_planes
from vsr.pipeline.frames import VideoItem
from vsr.pipeline.probe import probe
from vsr.pipeline.run import Job, frame_duration, plan_job, run_job
from vsr.pipeline.upscale import upscale_planes


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


@dataclass(frozen=True)
class BenchReport:
    job: Job
    decode: StageTiming
    model: StageTiming
    upscale: StageTiming
    encode: StageTiming
    end_to_end: StageTiming
    peak_rss_mb: float

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
        for stage in (self.decode, self.model, self.upscale, self.encode, self.end_to_end):
            out.append(f"{stage.name:<22}{stage.fps:9.2f} fps  {stage.ms_per_frame:9.1f} ms/frame")
        seq, par, e2e = self.sequential_ceiling_fps, self.parallel_ceiling_fps, self.end_to_end.fps
        out.append(f"{'ceiling, shared cores':<22}{seq:9.2f} fps  end-to-end = {e2e / seq:.2f} x this")
        out.append(f"{'ceiling, slowest stage':<22}{par:9.2f} fps  end-to-end = {e2e / par:.2f} x this")
        out.append(f"{'peak host memory':<22}{self.peak_rss_mb:9.0f} MB")
        return out


def run_benchmark(
    source: str | Path,
    *,
    scale: int = 4,
    model: str | SRModel | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    encode_options: EncodeOptions = EncodeOptions(),
    frames: int = 48,
) -> BenchReport:
    source = Path(source)
    job = plan_job(
        probe(source), "mp4", scale=scale, model=model, device=device, precision=precision,
        batch_size=batch_size, encode_options=encode_options,
    )
    items, decode = _time_decode(job, frames)
    model_timing, upscale, encoder_frames = _time_upscale(job, items)
    del items
    with tempfile.TemporaryDirectory(prefix="vsr-bench-") as folder:
        encode = _time_encode(job, encoder_frames, Path(folder) / "encode.mp4")
        del encoder_frames
        started = time.perf_counter()
        count = run_job(job, Path(folder) / "end_to_end.mp4", max_frames=frames)
        end_to_end = StageTiming("end-to-end", count, time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return BenchReport(job, decode, model_timing, upscale, encode, end_to_end, peak_mb)


def _time_decode(job: Job, frames: int) -> tuple[list[VideoItem], StageTiming]:
    started = time.perf_counter()
    items = [
        item for item in read_items(job.info.path, job.layout, [], DecodeStats(), frame_duration(job.info), frames)
        if isinstance(item, VideoItem)
    ]
    return items, StageTiming("decode", len(items), time.perf_counter() - started)


def _time_upscale(job: Job, items: list[VideoItem]) -> tuple[StageTiming, StageTiming, list[av.VideoFrame]]:
    engine, batch = job.engine, job.batch_size
    engine.collect(engine.submit([items[0].planes[0]] * min(batch, len(items))))  # warm-up: kernels, cudnn autotune
    model_seconds = 0.0
    encoder_frames = []
    started = time.perf_counter()
    for first in range(0, len(items), batch):
        chunk = items[first : first + batch]
        model_started = time.perf_counter()
        lumas = engine.collect(engine.submit([item.planes[0] for item in chunk]))
        model_seconds += time.perf_counter() - model_started
        for item, luma in zip(chunk, lumas):
            planes = upscale_planes(luma, item.planes[1:], engine.scale, job.layout)
            encoder_frames.append(frame_from_planes(planes, item, job.layout, job.info.time_base))
    total = time.perf_counter() - started
    return (
        StageTiming("model (luma only)", len(items), model_seconds),
        StageTiming("upscale stage", len(items), total),
        encoder_frames,
    )


def _time_encode(job: Job, frames: list[av.VideoFrame], path: Path) -> StageTiming:
    started = time.perf_counter()
    with av.open(str(path), "w", format="mp4") as output:
        stream = add_video_stream(output, job.info, job.codec, job.encode_options, job.layout, job.width, job.height)
        for frame in frames:
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return StageTiming("encode", len(frames), time.perf_counter() - started)
