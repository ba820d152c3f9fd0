"""The segment worker: one segment of the input upscaled into a video-only file, the same job as
`vsr upscale` (plan_job, run_job) limited to the segment's frames, and checked against the plan
before the file is renamed into place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from vsr.errors import PipelineError
from vsr.media import mux
from vsr.media.index import read_packet_index
from vsr.media.probe import probe
from vsr.options import UpscaleOptions
from vsr.pipeline.plan import plan_job
from vsr.pipeline.run import Scope, run_job
from vsr.segments.plan import Segment


@dataclass(frozen=True)
class SegmentResult:
    """A finished segment file: its frames, first and last pts (video time base) and size in bytes."""

    frames: int
    first_pts: int
    last_pts: int
    bytes: int


def upscale_segment(source: Path, segment: Segment, options: UpscaleOptions, target: Path) -> SegmentResult:
    """Upscale the frames of `source` with segment.start_pts <= pts < segment.end_pts into the
    video-only file `target` (its container follows the extension: the final output's), with the
    encoder settings of a whole run with `options`. The file is written under a temporary name and
    renamed onto `target` (replacing an older one: segment files belong to their work folder) only
    once check_segment_file passed. Raises PipelineError (stage "segment N") when it did not, and
    any VsrError the pipeline raises."""
    info = probe(source)
    job = plan_job(info, mux.container_format(target), options)
    results: list[SegmentResult] = []

    def check(temp: Path, frames: int) -> None:
        results.append(check_segment_file(temp, segment, frames))

    run_options = dataclasses.replace(options.run, overwrite=True)
    run_job(job, target, run_options, scope=Scope(segment.start_pts, segment.end_pts, video_only=True), check=check)
    return results[0]


def check_segment_file(path: Path, segment: Segment, frames_written: int) -> SegmentResult:
    """The SegmentResult of the segment file at `path`, after checking it against the plan: as
    many frames as `segment.frames` (written and in the file), the first at segment.start_pts and
    the last before segment.end_pts. PipelineError (stage "segment N") naming the mismatch."""
    index = read_packet_index(path)
    stage = f"segment {segment.index}"
    if frames_written != segment.frames or len(index.pts) != segment.frames:
        raise PipelineError(
            stage, f"{frames_written} frames written and {len(index.pts)} in the file, "
            f"but the plan holds {segment.frames} (pts {segment.start_pts} to {segment.end_pts})",
        )
    first, last = index.pts[0], index.pts[-1]
    if first != segment.start_pts or (segment.end_pts is not None and last >= segment.end_pts):
        raise PipelineError(
            stage, f"the frames run from pts {first} to {last}, "
            f"but the plan says from {segment.start_pts} to before {segment.end_pts}",
        )
    return SegmentResult(len(index.pts), first, last, path.stat().st_size)
