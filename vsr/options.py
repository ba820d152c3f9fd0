"""One frozen, picklable description of an upscaling job: what the API, the CLI, `vsr bench` and
(later) experiments and distributed workers all pass around.

    from vsr.options import UpscaleOptions, ModelOptions
    options = UpscaleOptions(model=ModelOptions(name="espcn", scale=4))
    options.replace(encode={"crf": 16})       # a changed copy
    options.validate()                        # raises ConfigError / UnsupportedModelError

Options carry names and paths only (no loaded models, no open files), so that they pickle and
travel to another process unchanged.
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsr.errors import ConfigError, UnsupportedModelError

SCALES = (2, 3, 4)
"""The upscaling factors."""
CLEANUP_SCALE = 1
"""Same size: only a clean-up model (one with x1 weights: restore, stream) runs at it."""
MODES = ("single", "multi")
MAX_FRAMES = 15
"""The longest multi-frame window."""


@dataclass(frozen=True)
class ModelOptions:
    """Which model runs where. `name`: a registered model name or the path of a weight file written
    by `vsr train` (None: the best shipped model for the scale). `batch_size`: frames per model call
    (None: from the frame size and the device). `ensemble`: the model on the 8 flips and rotations
    of every frame, averaged (`vsr.models.ensemble`: sharper, 8 times the model's time)."""

    name: str | None = None
    scale: int = 4
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    ensemble: bool = False

    def __post_init__(self) -> None:
        _as_ints(self, "scale", "batch_size")
        _as_bools(self, "ensemble")


@dataclass(frozen=True)
class MultiFrameOptions:
    """`mode` "multi" aligns and fuses the `frames` (odd) frames around each frame;
    `debug_dir` then receives the alignment confidence maps of the first few frames."""

    mode: str = "single"
    frames: int = 5
    debug_dir: Path | None = None

    def __post_init__(self) -> None:
        _as_ints(self, "frames")
        if isinstance(self.debug_dir, (str, bytes)) or hasattr(self.debug_dir, "__fspath__"):
            object.__setattr__(self, "debug_dir", Path(self.debug_dir))


def _as_bools(options: object, *names: str) -> None:
    """The yes/no fields `names` of a frozen options group as bools where they are numpy's."""
    for name in names:
        value = getattr(options, name)
        if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
            object.__setattr__(options, name, bool(value))


def _as_ints(options: object, *names: str) -> None:
    """The whole-number fields `names` of a frozen options group as ints (a numpy integer travels
    as one: the model registry takes ints)."""
    for name in names:
        value = getattr(options, name)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            object.__setattr__(options, name, int(value))


DEINTERLACE = ("off", "auto", "bwdif", "yadif", "w3fdif")
DEINTERLACE_RATES = ("frame", "field")
DENOISE = ("off", "light", "medium", "strong", "temporal")
TEMPORAL_DENOISE_RADIUS = 3
"""Frames on each side that --denoise temporal averages (vsr.misr.denoise)."""
COLOUR_MATRICES = ("keep", "bt709")


@dataclass(frozen=True)
class FilterOptions:
    """FFmpeg filters on the decoded frames before upscaling (vsr.media.filterplan), in this order:
    `ivtc` (inverse telecine: fieldmatch + decimate) or `deinterlace` ("auto": detected from the
    frames' flags, the stream's field order or FFmpeg's idet, then bwdif; or a deinterlacer by
    name) at `deinterlace_rate` "frame" (one frame per frame) or "field" (one per field: twice the
    frames); `deblock`; `denoise` (an FFmpeg nlmeans preset, or "temporal": vsr's motion-compensated
    averaging of 7 frames, after the FFmpeg filters); `video`, an FFmpeg filter graph (e.g.
    "yadif,atadenoise"; empty for none); then `colour_matrix` "bt709" converts to the BT.709
    matrix ("keep": the source's, tagged on the output) and `square_pixels` resamples an
    anamorphic input to square pixels."""

    video: str = ""
    deinterlace: str = "off"
    deinterlace_rate: str = "frame"
    denoise: str = "off"
    deblock: bool = False
    ivtc: bool = False
    colour_matrix: str = "keep"
    square_pixels: bool = False

    def __post_init__(self) -> None:
        _as_bools(self, "deblock", "ivtc", "square_pixels")

    def check(self) -> FilterOptions:
        """ConfigError for a value that is not one of the allowed ones, or options that do not go
        together (one frame per field without deinterlacing, or with inverse telecine)."""
        for name, allowed in (
            ("deinterlace", DEINTERLACE), ("deinterlace_rate", DEINTERLACE_RATES), ("denoise", DENOISE),
            ("colour_matrix", COLOUR_MATRICES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"unknown {name.replace('_', ' ')} {value!r}; use one of {', '.join(allowed)}")
        if self.deinterlace_rate == "field" and (self.deinterlace == "off" or self.ivtc):
            reason = "inverse telecine gives progressive frames" if self.ivtc else "add a deinterlacer (--deinterlace)"
            raise ConfigError(f"one frame per field (deinterlace rate 'field') needs deinterlacing: {reason}")
        return self

    def temporal_reach(self) -> int:
        """How many frames before and after a frame the filters may look at: FFmpeg's (ffmpeg_reach)
        plus 3 for temporal denoising, which runs on what they made, so the reaches add up; 0 for
        spatial filters only."""
        return self.ffmpeg_reach() + (TEMPORAL_DENOISE_RADIUS if self.denoise == "temporal" else 0)

    def ffmpeg_reach(self) -> int:
        """The part of temporal_reach that FFmpeg's filter graph has: 2 for a deinterlacer (bwdif,
        yadif and w3fdif read the neighbouring fields), 4 for a --vf graph, which may be temporal
        (atadenoise reads 4 on each side by default)."""
        return (4 if self.video else 0) + (2 if self.deinterlace != "off" else 0)

    def active(self) -> list[str]:
        """The filters asked for, by option name ([] for none)."""
        defaults = FilterOptions()
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(defaults, f.name)]


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

    def __post_init__(self) -> None:
        _as_ints(self, "queue_size", "max_frames")
        _as_bools(self, "overwrite")


@dataclass(frozen=True)
class UpscaleOptions:
    """Every option of an upscaling job, in groups."""

    model: ModelOptions = field(default_factory=ModelOptions)
    multi_frame: MultiFrameOptions = field(default_factory=MultiFrameOptions)
    filters: FilterOptions = field(default_factory=FilterOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    run: RunOptions = field(default_factory=RunOptions)

    def replace(self, **groups: dict[str, Any]) -> UpscaleOptions:
        """A copy with some fields of some groups changed: `replace(model={"scale": 2})`.
        Raises TypeError for an unknown group or field."""
        unknown = sorted(set(groups) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown option group(s) {', '.join(unknown)}; known: "
                            f"{', '.join(f.name for f in dataclasses.fields(self))}")
        changed = {name: dataclasses.replace(getattr(self, name), **fields) for name, fields in groups.items()}
        return dataclasses.replace(self, **changed)

    def validate(self) -> UpscaleOptions:
        """Check the values no later stage can fix, in this order: the whole numbers (batch and queue
        size, max frames, scale, CRF), mode, debug folder, window (multi mode only), filters, the
        scale's value. Returns self; raises ConfigError, or UnsupportedModelError for a scale vsr
        does not upscale by."""
        for label, value in (("batch size", self.model.batch_size), ("queue size", self.run.queue_size),
                             ("max frames", self.run.max_frames), ("scale", self.model.scale)):
            if value is not None and (not _whole(value) or value < 1):
                raise ConfigError(f"{label} must be a whole number of at least 1, got {value!r}")
        if self.encode.crf is not None and not _whole(self.encode.crf):
            raise ConfigError(f"the CRF must be a whole number, got {self.encode.crf!r}")
        for label, value in (("ensemble", self.model.ensemble), ("deblock", self.filters.deblock),
                             ("ivtc", self.filters.ivtc), ("square_pixels", self.filters.square_pixels),
                             ("overwrite", self.run.overwrite)):
            if not isinstance(value, bool):  # "no" would read as true: an overwrite nobody asked for
                raise ConfigError(f"{label} must be True or False, got {value!r}")
        if self.multi_frame.mode not in MODES:
            raise ConfigError(f"unknown mode {self.multi_frame.mode!r}; use one of {', '.join(MODES)}")
        debug_dir = self.multi_frame.debug_dir
        if debug_dir is not None and self.multi_frame.mode != "multi":
            raise ConfigError("a debug folder (the alignment confidence maps) needs multi-frame mode")
        if debug_dir is not None and Path(debug_dir).exists() and not Path(debug_dir).is_dir():
            raise ConfigError(f"the debug folder {debug_dir} is a file; name a folder")
        if self.multi_frame.mode == "multi":
            try:
                check_frames(self.multi_frame.frames)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        self.filters.check()
        check_scale(self.model.scale)
        return self


def _whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_scale(scale: int) -> None:
    """Raise UnsupportedModelError unless `scale` is one vsr upscales by (SCALES) or CLEANUP_SCALE."""
    if scale != CLEANUP_SCALE and scale not in SCALES:
        raise UnsupportedModelError(f"unsupported scale {scale}; use one of {', '.join(map(str, SCALES))} "
                                    f"(or {CLEANUP_SCALE} to clean without upscaling, with a clean-up model)")


def check_frames(frames: int) -> int:
    """Validate a window length (odd, 1…15) and return its radius k = (frames − 1) / 2.
    Raises ValueError."""
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 or frames > MAX_FRAMES or frames % 2 == 0:
        raise ValueError(f"frames must be an odd number from 1 to {MAX_FRAMES} (t−k … t+k), got {frames!r}")
    return (frames - 1) // 2


KEYWORDS: dict[str, tuple[str, str]] = {
    "scale": ("model", "scale"),
    "model": ("model", "name"),
    "device": ("model", "device"),
    "precision": ("model", "precision"),
    "batch_size": ("model", "batch_size"),
    "ensemble": ("model", "ensemble"),
    "mode": ("multi_frame", "mode"),
    "frames": ("multi_frame", "frames"),
    "debug_dir": ("multi_frame", "debug_dir"),
    "codec": ("encode", "codec"),
    "crf": ("encode", "crf"),
    "preset": ("encode", "preset"),
    "pix_fmt": ("encode", "pix_fmt"),
    "overwrite": ("run", "overwrite"),
    "queue_size": ("run", "queue_size"),
    "max_frames": ("run", "max_frames"),
    "deinterlace": ("filters", "deinterlace"),
    "deinterlace_rate": ("filters", "deinterlace_rate"),
    "denoise": ("filters", "denoise"),
    "deblock": ("filters", "deblock"),
    "ivtc": ("filters", "ivtc"),
    "colour_matrix": ("filters", "colour_matrix"),
    "square_pixels": ("filters", "square_pixels"),
}
"""The flat keywords of `vsr.upscale_video` and the (group, field) each one sets."""


def options_from_keywords(options: UpscaleOptions | None = None, **keywords: Any) -> UpscaleOptions:
    """Fold flat keywords (see KEYWORDS) into an UpscaleOptions.

    Without `options`, the keywords change the defaults. With `options`, a keyword left at its
    default defers to it, one set where `options` holds the default wins, and one that sets a
    different value than `options` sets raises ConfigError (naming both). Raises TypeError for an
    unknown keyword."""
    unknown = sorted(set(keywords) - set(KEYWORDS))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(KEYWORDS)}")
    defaults = UpscaleOptions()
    base = options if options is not None else defaults
    changes: dict[str, dict[str, Any]] = {}
    for keyword, value in keywords.items():
        group, name = KEYWORDS[keyword]
        value = _normalised(keyword, value)
        held = _normalised(keyword, getattr(getattr(base, group), name))
        default = getattr(getattr(defaults, group), name)
        if value == held or value == default:
            continue
        if held != default:
            raise ConfigError(
                f"{keyword}={value!r} conflicts with options.{group}.{name}={held!r}; give one or the other"
            )
        changes.setdefault(group, {})[name] = value
    folded = base.replace(**changes)
    if "crf" in changes.get("encode", {}) and folded.encode.bitrate is not None:
        raise ConfigError(f"crf={folded.encode.crf} has no effect with options.encode.bitrate={folded.encode.bitrate} "
                          "(a bitrate replaces the CRF); give one or the other")
    return folded


def _normalised(keyword: str, value: Any) -> Any:
    """Values as the options hold them: a model's weight file as a string, the debug folder as a
    Path, a numpy integer as an int."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if keyword == "model" and isinstance(value, Path):
        return str(value)
    if keyword == "debug_dir" and value is not None:
        return Path(value)
    return value


_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*(?:bps|b/s)?\s*$")


def parse_bitrate(value: Any) -> int:
    """Bits per second from 800000, "800k" or "2.5M". Raises ConfigError."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = _BITRATE.match(str(value))
    if not match:
        raise ConfigError(f"not a bitrate: {value!r} (use bits per second, e.g. 800k or 2.5M)")
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(round(float(match.group(1)) * factor))
