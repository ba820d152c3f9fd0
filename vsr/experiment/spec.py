"""The settings of a streaming-cost experiment: one frozen dataclass, read from TOML and/or the
command line (a given flag replaces the file's value), checked before any work.

    settings = make_settings(Path("configs/experiments/ladder_720p.toml"), scales="1,2", frames=60)

Unknown keys are refused with the valid ones listed (ConfigError), so a typo never falls back to
a default silently.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.errors import ConfigError
from vsr.media.encode import ENCODER_THREAD_TYPE, check_crf
from vsr.options import parse_bitrate
from vsr.tomlfile import read_toml

log = logging.getLogger(__name__)

LADDER_SCALES = (1, 2, 3, 4)
"""Scale 1 is the direct encode; 2–4 are the scales the upscalers (and the models) work at."""
METRICS = ("psnr", "ssim", "vmaf", "vmaf_neg")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
BD_MIN_POINTS = 4
PIX_FMT = "yuv420p"
"""Every rung is encoded in 8-bit 4:2:0, the streaming convention; metrics are on its Y plane."""
DOWNSCALE = "matlab-bicubic-antialiased"
"""How the rungs are made: MATLAB-style `imresize` bicubic with its antialiasing kernel
(vsr.resample.matlab), on every plane."""


@dataclass(frozen=True)
class ExperimentSettings:
    """What to measure.

    scales: downscale factors (1 = the direct encode, the anchor), each in LADDER_SCALES.
    crfs: constant rate factors of the encoder; bitrates (bits/s), when given, replace them.
    codec, preset: the encoder (libx264, libx265, libvpx-vp9, libsvtav1) and its preset.
    upscalers: "bicubic" (OpenCV, as `vsr upscale -m bicubic`), "lanczos" (OpenCV Lanczos-4) or any
        model name / weight file `vsr upscale -m` takes.
    metrics: from METRICS (PSNR-Y and SSIM-Y always run; they are added when left out).
    frames: at most this many frames from `start` seconds on (None: to the end).
    start: seconds after the source's first frame (its presentation time, which need not be 0:
        MPEG-TS, B-frame delay, edit lists), not after pts 0.
    anchor: the conventional upscaler whose hull the others are compared with.
    device, precision: where and how the models run (as `vsr upscale`).
    crop_size: side of the square crops in crops/ (0: none).
    threads: torch's intra-op threads while the experiment runs (models, VMAF); 0 leaves torch's
        default. On a machine that other jobs keep busy, 1 is several times faster than 2 (OpenMP
        threads that wait on each other). The results do not depend on it.
    """

    scales: tuple[int, ...] = (1, 2, 4)
    crfs: tuple[int, ...] = (18, 23, 28, 33, 38)
    bitrates: tuple[int, ...] = ()
    codec: str = "libx264"
    preset: str = "medium"
    upscalers: tuple[str, ...] = ("bicubic", "lanczos", "espcn")
    metrics: tuple[str, ...] = ("psnr", "ssim", "vmaf")
    frames: int | None = None
    start: float = 0.0
    anchor: str = "bicubic"
    device: str = "auto"
    precision: str = "auto"
    crop_size: int = 256
    threads: int = 0

    @property
    def rate_mode(self) -> str:
        """"crf" or "bitrate"."""
        return "bitrate" if self.bitrates else "crf"

    @property
    def rates(self) -> tuple[int, ...]:
        """The rate points: bitrates (bits/s) in bitrate mode, else the CRFs."""
        return self.bitrates or self.crfs

    def validate(self) -> ExperimentSettings:
        """A checked copy (lists sorted and without repeats, PSNR and SSIM included).
        Raises ConfigError naming the bad value."""
        scales = _unique_sorted(self.scales, "scales")
        bad = [s for s in scales if s not in LADDER_SCALES]
        if bad or not scales:
            raise ConfigError(f"scales must be some of {', '.join(map(str, LADDER_SCALES))}, got {list(self.scales)}")
        crfs = _unique_sorted(self.crfs, "crf")
        bitrates = _unique_sorted(self.bitrates, "bitrates")
        for crf in () if bitrates else crfs:
            check_crf(self.codec, crf)
        if any(b <= 0 for b in bitrates):
            raise ConfigError(f"a bitrate is a positive number of bits per second, got {list(self.bitrates)}")
        if not crfs and not bitrates:
            raise ConfigError("give at least one CRF (--crf) or bitrate (--bitrates)")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; use some of {', '.join(METRICS)}")
        metrics = tuple(m for m in METRICS if m in self.metrics or m in ("psnr", "ssim"))
        upscalers = tuple(dict.fromkeys(u.strip() for u in self.upscalers if u.strip()))
        if not upscalers and any(s > 1 for s in scales):
            raise ConfigError("give at least one upscaler (--upscalers bicubic,...) for the scales above 1")
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"frames must be at least 1, got {self.frames}")
        if not math.isfinite(self.start) or self.start < 0:
            raise ConfigError(f"start must be a number of seconds >= 0, got {self.start}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.crop_size != 0 and self.crop_size < 16:
            raise ConfigError(f"crop_size must be 0 (no crops) or at least 16, got {self.crop_size}")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (torch's default) or more, got {self.threads}")
        if not self.codec or not self.preset:
            raise ConfigError("codec and preset must not be empty")
        return dataclasses.replace(
            self, scales=scales, crfs=crfs, bitrates=bitrates, metrics=metrics, upscalers=upscalers,
            start=float(self.start), anchor=self.anchor.strip(),
        )

    def bd_warning(self) -> str | None:
        """A warning when too few rate points were asked for a BD-rate (which then reads N/A)."""
        if len(self.rates) < BD_MIN_POINTS:
            return (f"{len(self.rates)} rate point(s) per curve: BD-rate needs at least {BD_MIN_POINTS}, "
                    "so the per-scale BD figures will read N/A")
        return None

    def identity(self) -> dict[str, Any]:
        """What gives a cached point its meaning, apart from the source and the point itself: two
        runs into one folder must agree on this (the grid itself may grow)."""
        return {
            "codec": self.codec, "preset": self.preset, "frames": self.frames, "start": self.start,
            "pix_fmt": PIX_FMT, "downscale": DOWNSCALE, "encoder_threads": ENCODER_THREAD_TYPE,
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _unique_sorted(values: Any, name: str) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(v) for v in values if not isinstance(v, bool) and int(v) == v}))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be whole numbers, got {values!r}") from None


FIELDS = {f.name for f in dataclasses.fields(ExperimentSettings)}


def load_config(path: Path) -> dict[str, Any]:
    """The keys of an experiment TOML file (top level or an [experiment] table), unchecked values.
    Raises ConfigError for a missing or malformed file or an unknown key."""
    raw = read_toml(path)
    if set(raw) == {"experiment"} and isinstance(raw["experiment"], dict):
        raw = raw["experiment"]
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(FIELDS))}")
    return raw


def make_settings(config: Path | None = None, **overrides: Any) -> ExperimentSettings:
    """Settings from the defaults, then the `config` file, then the `overrides` that are not None
    (strings like "1,2,4" or "500k,1M" are parsed). A CRF list given here replaces the file's
    bitrates and the other way round. Raises ConfigError."""
    unknown = sorted(set(overrides) - FIELDS)
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = load_config(config) if config is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    for where in (values, given):
        if where.get("crfs") and where.get("bitrates"):
            raise ConfigError(f"give either CRFs or bitrates, not both{f' ({config})' if where is values else ''}")
    if "crfs" in given:
        values.pop("bitrates", None)
    if given.get("bitrates"):
        values.pop("crfs", None)
    values.update(given)
    parsed = {name: _parse(name, value) for name, value in values.items()}
    return ExperimentSettings(**parsed).validate()


def _parse(name: str, value: Any) -> Any:
    if name in ("scales", "crfs"):
        return _int_list(value, name)
    if name == "bitrates":
        return tuple(parse_bitrate(v) for v in _items(value))
    if name in ("upscalers", "metrics"):
        return tuple(str(v).strip().lower() if name == "metrics" else str(v).strip() for v in _items(value))
    if name in ("frames", "crop_size", "threads"):
        return None if value is None else _int(value, name)
    if name == "start":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"start must be a number of seconds, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v for v in (p.strip() for p in value.split(",")) if v]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _int(value: Any, name: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or number != int(number):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _int_list(value: Any, name: str) -> tuple[int, ...]:
    return tuple(_int(v, name) for v in _items(value))


