"""One frozen, picklable description of an upscaling job: what the API, the CLI, `vsr bench` and
(later) experiments and distributed workers all pass around.

    from vsr.options import UpscaleOptions, ModelOptions
    options = UpscaleOptions(model=ModelOptions(name="espcn", scale=4))
    options.replace(encode={"crf": 16})       # a changed copy
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCALES = (2, 3, 4)
MODES = ("single", "multi")


@dataclass(frozen=True)
class ModelOptions:
    """Which model runs where. `name`: a registered model name or the path of a weight file written
    by `vsr train` (None: the best shipped model for the scale)."""

    name: str | None = None
    scale: int = 4
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None


@dataclass(frozen=True)
class MultiFrameOptions:
    """`mode` "multi" aligns and fuses the `frames` (odd) frames around each frame;
    `debug_dir` then receives the alignment confidence maps of the first few frames."""

    mode: str = "single"
    frames: int = 5
    debug_dir: Path | None = None


@dataclass(frozen=True)
class FilterOptions:
    """`video`: an FFmpeg filter graph run on the decoded frames before upscaling
    (e.g. "yadif,hqdn3d"); empty for none."""

    video: str = ""


@dataclass(frozen=True)
class EncodeOptions:
    """Video encoder settings. `codec=None` takes the container's default (libx264; VP9 for WebM).
    `bitrate` (bits per second), when given, replaces the constant rate factor."""

    codec: str | None = None
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None
    bitrate: int | None = None


@dataclass(frozen=True)
class RunOptions:
    """How the job runs: `max_frames` stops after that many frames (a preview; the other streams
    stop there too); `queue_size` bounds each queue between stages."""

    overwrite: bool = False
    queue_size: int = 16
    max_frames: int | None = None


@dataclass(frozen=True)
class UpscaleOptions:
    """Every option of an upscaling job, in groups."""

    model: ModelOptions = field(default_factory=ModelOptions)
    multi_frame: MultiFrameOptions = field(default_factory=MultiFrameOptions)
    filters: FilterOptions = field(default_factory=FilterOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    run: RunOptions = field(default_factory=RunOptions)

    def replace(self, **groups: dict[str, Any]) -> UpscaleOptions:
        """A copy with some fields of some groups changed: `replace(model={"scale": 2})`."""
        changed = {name: dataclasses.replace(getattr(self, name), **fields) for name, fields in groups.items()}
        return dataclasses.replace(self, **changed)
