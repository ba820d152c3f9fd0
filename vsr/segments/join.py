"""The join: the segment files remuxed in order into one output, with the source's audio and
subtitles copied once, written under a temporary name and renamed when complete."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from vsr.media import mux
from vsr.media.remux import join_video_parts


def join_segments(
    source: Path, segment_files: Sequence[Path], target: Path, container: str, *, overwrite: bool = False,
    frame_rate: Fraction | None = None,
) -> int:
    """Join `segment_files` (in plan order, as vsr.segments.worker wrote them) into `target` in the
    FFmpeg format `container`, with the audio and subtitle streams of `source`; return the video
    frames written; `frame_rate`: the output stream's (default: the first segment's, which its
    container may only estimate). Nothing appears at `target` unless the whole join succeeds. Raises
    PipelineError (stage "join") for segments that cannot be joined (another encoding, overlapping
    or misordered timestamps), OutputError for a target that cannot or may not be written."""
    mux.check_output_path(source, target, overwrite)
    with mux.reserve_output(target) as temp:
        frames = join_video_parts(source, segment_files, temp, container, frame_rate)
        mux.commit_output(temp, target, overwrite)
    return frames
