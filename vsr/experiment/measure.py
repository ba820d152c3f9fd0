"""Scoring frames against the source: PSNR-Y and SSIM-Y (vsr.eval.metrics, 8-bit Y, whole frame,
the `vsr eval` convention) and VMAF v0.6.1 / VMAF NEG through vmaf-torch, frame by frame, with
the per-frame rows appended to a CSV and the pooled figures read back from it.

VMAF's motion feature of frame t needs frame t+1, so VMAF scores come out one frame late; a
scorer holds at most one frame's features, never the clip. Without vmaf-torch the VMAF metrics
are skipped (`vmaf_unavailable()` says why); they are never faked.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from vsr.eval.metrics import psnr, ssim

try:
    from vmaf_torch import VMAF
    from vmaf_torch.utils import fast_gaussian_blur, vmaf_pad
except ImportError:  # the `experiment` extra is not installed
    VMAF = None

PSNR_CAP_DB = 60.0
"""Per-frame PSNR is capped as libvmaf caps 8-bit PSNR (6 x bits + 12 dB): identical frames
(a lossless encode) would otherwise score infinity and break every mean and BD figure."""
VMAF_METRICS = ("vmaf", "vmaf_neg")
POOLINGS = ("mean", "hmean", "p1", "p5", "min")


def vmaf_unavailable() -> str | None:
    """Why VMAF cannot be measured here, or None when it can."""
    if VMAF is None:
        return "vmaf-torch is not installed (the experiment extra: pip install '.[experiment]' in the vsr checkout)"
    return None


def vmaf_version() -> str | None:
    """The installed vmaf-torch's version, or None."""
    try:
        return metadata.version("vmaf-torch")
    except metadata.PackageNotFoundError:
        return None


def frame_psnr(reference: np.ndarray, distorted: np.ndarray) -> float:
    """PSNR in dB of two (H, W) 8-bit Y planes, whole frame, capped at PSNR_CAP_DB."""
    return min(psnr(reference, distorted), PSNR_CAP_DB)


def frame_ssim(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIM of two (H, W) 8-bit Y planes, whole frame (11x11 Gaussian window, as `vsr eval`)."""
    return ssim(reference, distorted)


class VmafStream:
    """VMAF (v0.6.1, or NEG) of a sequence of frame pairs fed one at a time.

    `push(index, ref, dist)` takes (H, W) 8-bit Y planes of one frame and returns the
    (index, score) pairs that are complete, the previous frame's once the next one is in;
    `finish()` returns the last. Motion is computed on the reference as libvmaf does (motion2:
    the smaller blurred-SAD to the previous and next frame, 0 for the first, the SAD to the
    previous one for the last), so the scores equal vmaf-torch's on the whole clip at once.
    Raises RuntimeError when vmaf-torch is missing.
    """

    def __init__(self, neg: bool = False) -> None:
        if VMAF is None:
            raise RuntimeError(vmaf_unavailable())
        self.model = VMAF(temporal_pooling=False, enable_motion=True, clip_score=True, NEG=neg).eval()
        self._blur_window = self.model.motion.blur_win
        self._previous_blur: torch.Tensor | None = None
        self._pending: tuple[int, torch.Tensor, torch.Tensor, float] | None = None
        self._first = True

    def push(self, index: int, reference: np.ndarray, distorted: np.ndarray) -> list[tuple[int, float]]:
        ref = torch.from_numpy(np.ascontiguousarray(reference)).to(torch.float32)[None, None]
        dist = torch.from_numpy(np.ascontiguousarray(distorted)).to(torch.float32)[None, None]
        with torch.inference_mode():
            adm = self.model.compute_adm_score(ref, dist)
            vif = self.model.compute_vif_features(ref, dist)
            blur = fast_gaussian_blur(vmaf_pad(ref, [2, 2, 2, 2]), weight=self._blur_window)
            sad = 0.0 if self._previous_blur is None else float(torch.mean(torch.abs(blur - self._previous_blur)))
        self._previous_blur = blur
        done = []
        if self._pending is not None:
            done.append(self._score(self._pending, min(self._pending[3], sad)))
        self._pending = (index, adm, vif, sad)
        return done

    def finish(self) -> list[tuple[int, float]]:
        if self._pending is None:
            return []
        done = [self._score(self._pending, self._pending[3])]
        self._pending = None
        return done

    def _score(self, pending: tuple[int, torch.Tensor, torch.Tensor, float], motion2: float) -> tuple[int, float]:
        index, adm, vif, _ = pending
        if self._first:
            motion2, self._first = 0.0, False
        with torch.inference_mode():
            score = self.model.predict(adm, torch.tensor([[motion2]], dtype=torch.float32), vif)
        return index, float(score.reshape(-1)[0])


class PointScorer:
    """The per-frame metrics of one point (one codec x scale x rate x upscaler), written as CSV rows.

    `add(index, ref, dist)` scores one frame; `finish()` writes the frames still waiting for
    their VMAF. Each row is `key` (the point's columns) + frame + one column per metric; rows go
    to `out` as soon as they are complete. Metrics: names from spec.METRICS.
    """

    def __init__(self, metrics: Sequence[str], out: TextIO, key: dict[str, Any]) -> None:
        self.metrics = tuple(metrics)
        self.key = key
        self.writer = csv.writer(out)
        self.streams = {m: VmafStream(neg=m == "vmaf_neg") for m in self.metrics if m in VMAF_METRICS}
        self.waiting: dict[int, dict[str, float]] = {}
        self.frames = 0

    def add(self, index: int, reference: np.ndarray, distorted: np.ndarray) -> None:
        """Score frame `index`: (H, W) uint8 Y planes of the source and of the result."""
        row: dict[str, float] = {}
        if "psnr" in self.metrics:
            row["psnr"] = frame_psnr(reference, distorted)
        if "ssim" in self.metrics:
            row["ssim"] = frame_ssim(reference, distorted)
        self.waiting[index] = row
        for name, stream in self.streams.items():
            for done, score in stream.push(index, reference, distorted):
                self.waiting[done][name] = score
        self._write_complete()

    def finish(self) -> int:
        """Flush the last frames; returns how many frames were scored."""
        for name, stream in self.streams.items():
            for done, score in stream.finish():
                self.waiting[done][name] = score
        self._write_complete()
        if self.waiting:
            raise RuntimeError(f"frames {sorted(self.waiting)} never got all their metrics")
        return self.frames

    def _write_complete(self) -> None:
        for index in sorted(self.waiting):
            row = self.waiting[index]
            if len(row) < len(self.metrics):
                break
            self.writer.writerow([*self.key.values(), index, *(_fmt(row[m]) for m in self.metrics)])
            del self.waiting[index]
            self.frames += 1


def frame_columns(key: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The header of a per-frame CSV."""
    return [*key, "frame", *metrics]


def _fmt(value: float) -> str:
    return f"{value:.6f}"


def pool(values: np.ndarray) -> dict[str, float]:
    """The poolings of one metric over the frames of a point: mean, harmonic mean (as Netflix pools
    VMAF: n / Σ 1/(1+x) − 1, defined at 0), 1st and 5th percentile (linear interpolation), minimum.
    NaN for no values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {name: math.nan for name in POOLINGS}
    shifted = values + 1.0
    hmean = float(values.size / np.sum(1.0 / shifted) - 1.0) if np.all(shifted > 0) else math.nan
    return {
        "mean": float(values.mean()),
        "hmean": hmean,
        "p1": float(np.percentile(values, 1)),
        "p5": float(np.percentile(values, 5)),
        "min": float(values.min()),
    }


def pool_csv(path: Path, metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """metric → pooling → value, from a per-frame CSV (reading one metric's column at a time:
    8 bytes a frame, the least a percentile needs)."""
    pooled = {}
    for metric in metrics:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            column = next(reader).index(metric)
            values = np.fromiter((float(row[column]) for row in reader), dtype=np.float64)
        pooled[metric] = pool(values)
    return pooled
