"""What a finished job reports, and where its output goes by default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vsr.files import fitting_name
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.mux import written_suffix


@dataclass(frozen=True)
class UpscaleResult:
    """What `upscale_video` did: the file written, frames written, wall-clock seconds, the model
    name, device ("cpu"/"cuda") and precision it ran in, and the output size in pixels."""

    output: Path
    frames: int
    seconds: float
    model: str
    device: str
    precision: str
    width: int
    height: int
    frames_run: int | None = None
    """Frames this run upscaled where not all of them (a resumed segmented run: its redone segments')."""

    @property
    def fps(self) -> float:
        """Frames upscaled per second of wall-clock time (0 for a run that took no measurable time)."""
        frames = self.frames if self.frames_run is None else self.frames_run
        return frames / self.seconds if self.seconds > 0 else 0.0


def default_output_path(source: Path, scale: int) -> Path:
    """`<stem>_x<scale><ext>` beside the input: its extension where vsr writes that container or
    image format, else .mkv (a .avi or .ts input)."""
    suffix = source.suffix if source.suffix.lower() in IMAGE_SUFFIXES else written_suffix(source.suffix)
    mark = f"_x{scale}{suffix}"  # the stem cut to fit where a long input's name, legal itself, would make it too long
    return source.with_name(f"{fitting_name(source.stem, len(os.fsencode(mark)))}{mark}")
