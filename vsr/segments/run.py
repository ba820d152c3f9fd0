"""A segmented run on one machine: the input planned into keyframe segments, each upscaled into
a work folder (its manifest saved after every finished segment, so that an interrupted job can
resume), then joined into the output.

    upscale_in_segments(source, target, options, segment_seconds=60)              # fresh run
    upscale_in_segments(source, target, options, segment_seconds=60, resume=True) # after a failure
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from vsr.errors import ConfigError, OutputError, PipelineError
from vsr.media import mux
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.index import read_packet_index
from vsr.media.probe import probe
from vsr.options import UpscaleOptions
from vsr.pipeline.plan import Job, plan_job
from vsr.pipeline.result import UpscaleResult, default_output_path
from vsr.pipeline.run import Progress
from vsr.segments.join import join_segments
from vsr.segments.manifest import Manifest
from vsr.segments.plan import Segment, plan_segments
from vsr.segments.worker import SegmentResult, upscale_segment

log = logging.getLogger(__name__)

ATTEMPTS = 2
"""A segment that fails its check is redone once before the job fails."""


def upscale_in_segments(
    source: Path, target: Path | None, options: UpscaleOptions, *, segment_seconds: float,
    work_dir: Path | None = None, resume: bool = False, keep_work: bool = False, progress: Progress | None = None,
) -> UpscaleResult:
    """Upscale the video `source` into `target` (None: `<stem>_x<scale><ext>` beside it) in
    segments of about `segment_seconds` cut at keyframes, with the same result as upscale_video.

    The segments go to `work_dir` (default: default_work_dir(target)) with a manifest. Without
    `resume` an existing work folder is refused; with it, its manifest must be for this input and
    these options (ConfigError otherwise), its plan is kept (whatever `segment_seconds`), and only
    unfinished segments are upscaled (no work folder yet: a fresh start). The work
    folder is removed after the join unless `keep_work`, and kept when the job fails (nothing is
    then written to `target`). `progress` is called with (frames done over all segments, total).
    Raises a VsrError subclass on failure; PipelineError (stage "segment N") for a segment that
    failed twice."""
    source = Path(source)
    target = Path(target) if target is not None else default_output_path(source, options.model.scale)
    _check_segmentable(source, options)
    info = probe(source)
    container = mux.container_format(target)
    mux.check_output_path(source, target, options.run.overwrite)
    work = Path(work_dir) if work_dir is not None else default_work_dir(target)
    job = plan_job(info, container, options)  # bad options fail before a work folder exists
    manifest = _open_work(work, source, options, segment_seconds, resume)
    log.info("%s, %d segment(s) in %s", job.describe(), len(manifest.segments), work)
    started = time.perf_counter()
    files = [segment_path(work, r.segment, target.suffix) for r in manifest.segments]  # a resumed job keeps its plan
    _upscale_pending(source, options, job, work, manifest, files, progress)
    frames = join_segments(source, files, target, container, overwrite=options.run.overwrite)
    if not keep_work:
        shutil.rmtree(work)
    return UpscaleResult(
        target, frames, time.perf_counter() - started, job.model.name, job.engine.device, job.engine.precision,
        job.width, job.height,
    )


def default_work_dir(target: Path) -> Path:
    """`.<target name>.vsr-work` beside the target."""
    return target.with_name(f".{target.name}.vsr-work")


def segment_path(work: Path, segment: Segment, suffix: str) -> Path:
    """The file of `segment` in the work folder: `segment-0000<suffix>`."""
    return work / f"segment-{segment.index:04d}{suffix}"


def _check_segmentable(source: Path, options: UpscaleOptions) -> None:
    """ConfigError for what a segmented run cannot do: a still image, or a preview (max_frames)."""
    if source.suffix.lower() in IMAGE_SUFFIXES:
        raise ConfigError(f"{source.name} is a still image; segments are for videos")
    if options.run.max_frames is not None:
        raise ConfigError("a preview (max_frames) cannot run in segments; drop one or the other")


def _open_work(work: Path, source: Path, options: UpscaleOptions, segment_seconds: float, resume: bool) -> Manifest:
    """The manifest of the work folder: loaded and checked against the job with `resume` (a fresh
    one where there is no folder yet), else a new one in a new folder (an existing one refused).
    Only a new manifest reads the input's packet index to plan its segments."""
    if work.exists():
        if not resume:
            raise OutputError(f"the work folder {work} exists (an unfinished run?); pass --resume to continue it, or remove it")
        manifest = Manifest.load(work).for_job(source, options)
        log.info("resuming: %d of %d segment(s) to do", len(manifest.pending), len(manifest.segments))
        return manifest
    try:
        work.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot create the work folder {work}: {exc.strerror or exc}") from None
    manifest = Manifest.new(source, options, plan_segments(read_packet_index(source), segment_seconds))
    manifest.save(work)
    return manifest


def _upscale_pending(
    source: Path, options: UpscaleOptions, job: Job, work: Path, manifest: Manifest, files: list[Path],
    progress: Progress | None,
) -> None:
    """Upscale the segments not finished (or whose file went missing) into `files`, saving the
    manifest in `work` after each."""
    total = sum(r.segment.frames for r in manifest.segments)
    pending = set(manifest.pending)
    todo = [r.segment for r in manifest.segments if r.segment in pending or not files[r.segment.index].exists()]
    done = total - sum(s.frames for s in todo)
    for segment in todo:
        report = None if progress is None else _offset(progress, done, total)
        result = _upscale_with_retry(source, segment, options, files[segment.index], job, report)
        manifest = manifest.finished(segment.index, result.frames, result.bytes)
        manifest.save(work)
        done += result.frames
        if progress is not None:
            progress(done, total)


def _upscale_with_retry(
    source: Path, segment: Segment, options: UpscaleOptions, target: Path, job: Job, progress: Progress | None,
) -> SegmentResult:
    """upscale_segment, redone once if the segment fails its check (a PipelineError of its own
    stage); PipelineError (stage "segment N") when the second try fails too."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return upscale_segment(source, segment, options, target, job=job, progress=progress)
        except PipelineError as exc:
            if exc.stage != f"segment {segment.index}":
                raise
            if attempt == ATTEMPTS:
                raise PipelineError(exc.stage, f"failed its check {ATTEMPTS} times, the last: {str(exc).removeprefix(exc.stage + ': ')}") from exc
            log.warning("%s; redoing it", exc)
    raise AssertionError("unreachable")


def _offset(progress: Progress, base: int, total: int) -> Progress:
    """A segment's progress callback, reporting to the job's: frames done before it added, the job's total."""

    def report(written: int, _segment_total: int | None) -> None:
        progress(base + written, total)

    return report
