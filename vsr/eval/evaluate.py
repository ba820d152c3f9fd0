"""Benchmark a model on a folder of HR images (or video frames) under the paper protocol.

For each image: crop to a multiple of the scale, make LR with the MATLAB-style bicubic
downscale, upscale it with the model and with MATLAB-style bicubic, and measure PSNR/SSIM
on the BT.601 Y channel with `border` pixels cropped (default: the scale).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vsr.device import EXPLICIT_PRECISIONS, named_device
from vsr.engine.cpu import CpuEngine, heap_given_back_after
from vsr.errors import ConfigError, InputError, UnsupportedModelError
from vsr.eval.metrics import psnr, rgb_to_y8, ssim
from vsr.eval.protocol import degrade_rgb, list_images, mod_crop, read_rgb
from vsr.models import SRModel
from vsr.resample.matlab import imresize

"""The precisions `vsr eval` takes: fp32, or fp16/bf16 (autocast) for half-safe models."""


@dataclass(frozen=True)
class ImageResult:
    name: str
    psnr: float  # dB, model
    ssim: float
    bicubic_psnr: float  # dB, MATLAB-style bicubic upscale of the same LR
    bicubic_ssim: float
    seconds: float  # model wall time for this image
    hr_size: tuple[int, int]  # (height, width) after the crop to a multiple of the scale


@dataclass(frozen=True)
class EvalReport:
    model: str
    scale: int
    data: str
    border: int
    precision: str
    images: list[ImageResult]
    wall_seconds: float  # the whole evaluation, degradation and metrics included
    model_seconds: float  # the model's share
    extra: dict[str, Any] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        return float(np.mean([getattr(r, key) for r in self.images]))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = {k: self.mean(k) for k in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")}
        return d


def upscale_luma(model: SRModel, lr_y: np.ndarray, *, precision: str = "fp32", device: str = "cpu",
                 ensemble: bool = False) -> np.ndarray:
    """The model's output for an (h, w) luma plane in 8-bit levels: (s*h, s*w) float levels, clipped and
    rounded as an 8-bit image would be (`SRModel.run_luma`, whose errors it raises; `ensemble`: the
    mean over the plane's 8 orientations)."""
    return np.clip(np.rint(model.run_luma(lr_y, precision=precision, device=device, ensemble=ensemble)), 0, 255)


def evaluate_folder(
    model: SRModel,
    data: str | os.PathLike[str],
    *,
    border: int | None = None,
    precision: str = "fp32",
    device: str = "cpu",
    limit: int | None = None,
    progress: Callable[[ImageResult], None] | None = None,
    ensemble: bool = False,
) -> EvalReport:
    """Evaluate `model` on every image in the folder `data` (see the module docstring).

    border: pixels cropped at each side before the metrics (default: model.scale).
    limit: evaluate only the first `limit` images (sorted by name).
    ensemble: the model on the 8 flips and rotations of each LR image, averaged (`vsr.models.ensemble`).
    Raises InputError if the folder has no readable images.
    """
    scale = model.scale
    border = scale if border is None else border
    if border < 0:
        raise InputError(f"border must be >= 0, got {border}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1 image, got {limit}")
    if precision not in EXPLICIT_PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(EXPLICIT_PRECISIONS)}")
    named_device(device)  # one that is not here is a ConfigError, not torch's many lines
    paths = list_images(data)[:limit]
    t_start = time.perf_counter()
    results, model_total = [], 0.0
    for path in paths:
        hr = mod_crop(read_rgb(path), scale)
        if min(hr.shape[:2]) < 2 * border + 11 or min(hr.shape[:2]) < scale:
            raise InputError(f"{path} is too small to evaluate at scale {scale}")
        lr = degrade_rgb(hr, scale)
        hr_y = rgb_to_y8(hr)
        lr_y = rgb_to_y8(lr)
        t0 = time.perf_counter()
        sr_y = upscale_luma(model, lr_y, precision=precision, device=device, ensemble=ensemble)
        dt = time.perf_counter() - t0
        model_total += dt
        bic_y = np.clip(np.rint(imresize(lr_y, float(scale))), 0, 255)
        res = ImageResult(
            name=path.name,
            psnr=psnr(sr_y, hr_y, border=border),
            ssim=ssim(sr_y, hr_y, border=border),
            bicubic_psnr=psnr(bic_y, hr_y, border=border),
            bicubic_ssim=ssim(bic_y, hr_y, border=border),
            seconds=dt,
            hr_size=(int(hr.shape[0]), int(hr.shape[1])),
        )
        results.append(res)
        if progress is not None:
            progress(res)
    report = EvalReport(model.name, scale, str(data), border, precision, results,
                        time.perf_counter() - t_start, model_total)
    if ensemble:
        report.extra["ensemble"] = True
    return report


CPU_PRECISIONS = ("fp32", "bf16")
"""What the CPU engine runs in (it has no fp16 path: an fp16 timing would be fp32's)."""


def check_fps_precision(precision: str) -> None:
    """ConfigError unless measure_fps can time `precision`."""
    if precision not in CPU_PRECISIONS:
        raise ConfigError(f"the CPU engine that --fps times runs in {' or '.join(CPU_PRECISIONS)}, not {precision!r}")


@heap_given_back_after()
def measure_fps(
    model: SRModel,
    *,
    height: int = 540,
    width: int = 960,
    frames: int = 3,
    precision: str = "fp32",
) -> float:
    """Frames per second of the CPU engine that `vsr upscale` runs (the fused graph, quantised
    8-bit output) on a (height, width) 8-bit luma plane, after one warm-up.

    Uses torch's current thread count; bf16 only for models with supports_half. Raises
    ConfigError for an unknown precision or an empty plane or frame count.
    """
    check_fps_precision(precision)
    if min(height, width, frames) < 1:
        raise ConfigError(f"measure_fps needs at least one frame of 1x1 pixels, not {frames} of {width}x{height}")
    if precision != "fp32" and not model.supports_half:
        raise UnsupportedModelError(f"model {model.name} x{model.scale} is not declared safe for {precision}; use --precision fp32")
    engine = CpuEngine(model.module, model.scale, precision, 255)
    luma = np.random.default_rng(0).integers(0, 256, (height, width), dtype=np.uint8)
    engine.collect(engine.submit([luma]))
    t0 = time.perf_counter()
    for _ in range(frames):
        engine.collect(engine.submit([luma]))
    dt = time.perf_counter() - t0
    return frames / dt if dt > 0 else math.inf
