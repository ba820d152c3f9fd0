"""The segment worker: one segment of the input upscaled into a video-only file, the same job as
`vsr upscale` (plan_job, run_job) limited to the segment's frames, and checked against the plan
before the file is renamed into place."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vsr.errors import InputError, PipelineError
from vsr.files import file_sha256
from vsr.media import mux
from vsr.media.decode import leading_frames_lost
from vsr.media.index import read_packet_index
from vsr.media.probe import probe
from vsr.options import UpscaleOptions
from vsr.pipeline.plan import Job, plan_job
from vsr.pipeline.run import Progress, Scope, run_job
from vsr.segments.plan import Segment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentResult:
    """A finished segment file: its frames, first and last pts (in the file's time base) and size in bytes."""

    frames: int
    first_pts: int
    last_pts: int
    bytes: int


def upscale_segment(
    source: Path, segment: Segment, options: UpscaleOptions, target: Path, *,
    job: Job | None = None, progress: Progress | None = None,
) -> SegmentResult:
    """Upscale the frames of `source` with segment.start_pts <= pts < segment.end_pts into the
    video-only file `target` (its container follows the extension: the final output's), with the
    encoder settings of a whole run with `options`. The file is written under a temporary name and
    renamed onto `target` (replacing an older one: segment files belong to their work folder) only
    once check_segment_file passed. Raises PipelineError (stage "segment N") when it did not, and
    any VsrError the pipeline raises. `job`: the job plan_job made for `source`, these options
    and the target's container, to reuse over segments (planned here when not given);
    `progress`: called with (frames written in this segment, None)."""
    if job is None:
        job = plan_job(probe(source), mux.container_format(target), options)
    results: list[SegmentResult] = []

    def check(temp: Path, frames: int) -> None:
        results.append(check_segment_file(temp, segment, frames, job.info.time_base))

    run_options = dataclasses.replace(options.run, overwrite=True)
    scope = Scope(segment.start_pts, segment.end_pts, video_only=True,
                  context_start_pts=segment.context_start_pts, context_after=segment.context_after)
    run_job(job, target, run_options, progress=progress, scope=scope, check=check)
    return results[0]


@dataclass(frozen=True)
class SegmentTask:
    """One segment to upscale, as a worker (in this process or on another machine) receives it:
    small and picklable (paths and options, never frames). `job`: which of the driver's jobs it
    belongs to (a folder run has one per file)."""

    source: Path
    segment: Segment
    options: UpscaleOptions
    target: Path
    job: int = 0
    source_stamp: tuple[int, int] | None = None
    """The input's size and modification time when the job was opened (check_source_unchanged)."""

    @property
    def stage(self) -> str:
        """The PipelineError stage naming this segment."""
        return f"segment {self.segment.index}"


ATTEMPTS = 2
"""A segment that fails its check is redone once before the job fails."""


def upscale_checked(task: SegmentTask, *, progress: Progress | None = None) -> SegmentResult:
    """upscale_segment for `task` (with the job planned_job keeps), redone once if the segment
    fails its check (a PipelineError of its own stage); PipelineError (stage "segment N") when
    the second try fails too."""
    check_source_unchanged(task.source, task.source_stamp)
    job = planned_job(task.source, task.options, mux.container_format(task.target))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return upscale_segment(task.source, task.segment, task.options, task.target, job=job, progress=progress)
        except PipelineError as exc:
            if exc.stage != task.stage:
                raise
            if attempt == ATTEMPTS:
                raise PipelineError(exc.stage, f"failed its check {ATTEMPTS} times, the last: {str(exc).removeprefix(exc.stage + ': ')}") from exc
            log.warning("%s; redoing it", exc)
    raise AssertionError("unreachable")


class _Planned(threading.local):
    def __init__(self) -> None:
        self.jobs: dict[tuple, Job] = {}


_planned = _Planned()


def planned_job(source: Path, options: UpscaleOptions, container: str) -> Job:
    """plan_job for `source` (probed), `options` and `container`, kept for the next call with the
    same arguments (and the same file size and modification time): the segments of one input
    share one loaded model and engine. Only the last job is kept (the driver keeps a small
    vsr.segments.run.JobSummary of each of its jobs), so memory does not grow over a folder of
    inputs; a thread's own (two runs in two threads of a program neither evict nor share each
    other's: an engine's buffers are one run's)."""
    key = (str(source), *source_stamp(source), repr(options), container)
    job = _planned.jobs.get(key)
    if job is None:
        _planned.jobs.clear()
        job = _planned.jobs[key] = plan_job(probe(Path(source)), container, options)
    return job


def source_stamp(source: Path) -> tuple[int, int]:
    """What tells that `source` was replaced or written to: its size and modification time (ns)."""
    try:
        stat = Path(source).stat()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    return stat.st_size, stat.st_mtime_ns


class SourceChanged(InputError):
    """The input was replaced or written to during a segmented run: its segments would come from two files."""


def check_source_unchanged(source: Path, stamp: tuple[int, int] | None, sha256: str | None = None) -> None:
    """SourceChanged where `source` is not as `stamp` (source_stamp) found it: replaced or written
    to during the run, its segments would come from two files (nothing says so afterwards). With
    `sha256` (the driver's, before the join), a file only touched (its time changed, its content
    the same) passes; without (a worker, whose mount may keep times more coarsely than the
    driver's: whole seconds through sshfs), the size alone is compared."""
    if stamp is None:
        return
    now = source_stamp(source)
    if now == stamp or (sha256 is None and now[0] == stamp[0]) or (sha256 is not None and file_sha256(source) == sha256):
        return
    raise SourceChanged(f"{Path(source).name} changed during the run (replaced or written to): its segments would "
                        "come from two files, so their work is removed; run it again once it is complete")


def forget_planned_jobs() -> None:
    """Let go of the job planned_job keeps in this thread (its model and engine) once a segmented run is over."""
    _planned.jobs.clear()


def check_segment_file(path: Path, segment: Segment, frames_written: int, time_base: Fraction) -> SegmentResult:
    """The SegmentResult of the segment file at `path`, after checking it against the plan: as
    many frames as `segment.frames` (written and in the file), the first at segment.start_pts and
    the last before segment.end_pts; the plan's timestamps are in `time_base` (the input's), the
    file's in its own (Matroska's 1/1000), compared as the muxer rounds them. PipelineError
    (stage "segment N") naming the mismatch."""
    index = read_packet_index(path)
    start, end = _rescaled(segment.start_pts, time_base, index.time_base), _rescaled(segment.end_pts, time_base, index.time_base)
    stage = f"segment {segment.index}"
    lost = segment.frames - frames_written  # only frames before the first keyframe may be (as in a plain run)
    if not 0 <= lost <= segment.leading or len(index.pts) != frames_written or not index.pts:
        raise PipelineError(
            stage, f"{frames_written} frames written and {len(index.pts)} in the file, "
            f"but the plan holds {segment.frames} (pts {segment.start_pts} to {segment.end_pts})",
        )
    first, last = index.pts[0], index.pts[-1]
    if lost:
        log.warning("%s", leading_frames_lost(lost))
    if first < start or (not lost and first != start) or (end is not None and last >= end):
        raise PipelineError(
            stage, f"the frames run from pts {first} to {last}, "
            f"but the plan says from {segment.start_pts} to before {segment.end_pts}",
        )
    return SegmentResult(len(index.pts), first, last, path.stat().st_size)


def _rescaled(pts: int | None, source: Fraction, target: Fraction) -> int | None:
    """`pts` from the `source` time base to `target`, rounded to nearest with halves away from zero,
    as FFmpeg's muxers do (av_rescale_q; Python's round takes halves to even: 500.5 ms would be 500)."""
    if pts is None:
        return None
    value = pts * source / target
    nearest = math.floor(abs(value) + Fraction(1, 2))
    return nearest if value >= 0 else -nearest
