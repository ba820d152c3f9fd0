"""Multi-frame vs single-frame vs bicubic on video sequences (Vid4), side by side.

Protocol (the "BI" video protocol): every ground-truth frame is cropped to a multiple of the
scale and downscaled with the MATLAB-style antialiased bicubic; PSNR and SSIM are measured on the
BT.601 Y channel with both border crops 0 and `scale` (papers differ: BasicVSR uses 0). The
methods see the LR luma only:

- bicubic: MATLAB-style bicubic upscale;
- single: the single-frame model (`upscale_luma`);
- multi: the multi-frame mode (`vsr.misr.MultiFrameSR`, the same code the pipeline runs),
  initialised with the single-frame model's output;
- learned: the learned fusion (`vsr.engine.fusion`) of the same aligned windows, where a
  multi-frame model is shipped at the scale or given.

Temporal consistency ("tMAE", lower is less flicker): the mean absolute difference, in 8-bit
levels, between the frame-to-frame change of the result and that of the ground truth,
mean_t |(SR_t − SR_{t−1}) − (GT_t − GT_{t−1})|, over the frames after the first, with the
border crop `scale`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsr.engine.fusion import LearnedFusion
from vsr.engine.windows import WindowFusion
from vsr.errors import ConfigError, InputError, UnsupportedModelError
from vsr.eval.evaluate import upscale_luma
from vsr.eval.metrics import crop_border, psnr, rgb_to_y8, ssim
from vsr.eval.protocol import degrade_rgb, image_files, mod_crop, read_rgb
from vsr.models import SRModel, default_model_name, load_model, resolve, weights_path
from vsr.models.registry import MULTI_FRAME_ARCHS
from vsr.options import check_frames
from vsr.resample.matlab import imresize

__all__ = [
    "METHODS",
    "MethodScores",
    "SequenceResult",
    "VideoReport",
    "evaluate_video",
    "format_video_report",
    "list_sequences",
    "temporal_mae",
]

METHODS = ("bicubic", "single", "multi", "learned")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MethodScores:
    """Means over a sequence's frames. psnr/ssim: border 0; psnr_crop/ssim_crop: border = scale."""

    psnr: float
    ssim: float
    psnr_crop: float
    ssim_crop: float
    tmae: float
    seconds_per_frame: float


@dataclass(frozen=True)
class SequenceResult:
    name: str
    frames: int
    hr_size: tuple[int, int]  # (height, width) after the crop to a multiple of the scale
    scores: dict[str, MethodScores]


@dataclass
class VideoReport:
    data: str
    scale: int
    model: str
    frames: int  # the multi-frame window
    sequences: list[SequenceResult]
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        return [m for m in METHODS if self.sequences and m in self.sequences[0].scores]

    def mean(self, method: str, key: str) -> float:
        """The mean over the sequences where the figure is defined (tMAE is not for one frame); NaN if none."""
        values = [v for s in self.sequences if not math.isnan(v := getattr(s.scores[method], key))]
        return float(np.mean(values)) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain values, an undefined figure as None (JSON has no NaN)."""
        d = asdict(self)
        d["mean"] = {
            m: {k: self.mean(m, k) for k in ("psnr", "ssim", "psnr_crop", "ssim_crop", "tmae", "seconds_per_frame")}
            for m in self.methods
        }
        return _nan_as_none(d)


def _nan_as_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _nan_as_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_as_none(item) for item in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def list_sequences(data: str | os.PathLike[str]) -> list[tuple[str, list[Path]]]:
    """(name, frame files) of every sequence: the sub-folders of `data` holding images, in name
    order (Vid4's layout), or `data` itself if it holds the images. Raises InputError if none."""
    folder = Path(data)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    own = image_files(folder)
    if own:
        return [(folder.name, own)]
    found = [(d.name, image_files(d)) for d in sorted(folder.iterdir()) if d.is_dir()]
    found = [(name, files) for name, files in found if files]
    if not found:
        raise InputError(f"no image sequences in {folder} (expected sub-folders of frames, or frames)")
    return found


def temporal_mae(result: list[np.ndarray], truth: list[np.ndarray], *, border: int = 0) -> float:
    """Mean |(R_t − R_{t−1}) − (G_t − G_{t−1})| over t ≥ 1, in the planes' units; nan for one frame."""
    if len(result) != len(truth):
        raise ValueError(f"{len(result)} result frames for {len(truth)} ground-truth frames")
    if len(result) < 2:
        return math.nan
    total = 0.0
    for t in range(1, len(result)):
        d = (result[t].astype(np.float64) - result[t - 1]) - (truth[t].astype(np.float64) - truth[t - 1])
        total += float(np.mean(np.abs(crop_border(d, border))))
    return total / (len(result) - 1)


def multi_frame_sequence(model: Any, lr: list[np.ndarray], inits: list[np.ndarray] | None, *, frames: int = 5,
                         settings: Any = None, fusion: Any = None) -> list[np.ndarray]:
    """The multi-frame mode on one sequence of LR luma planes (8-bit levels): HR planes, rounded and
    clipped to 0..255 (float64). Classical fusion of the single-frame estimates `inits`, or, with
    `fusion` (a `vsr.engine.fusion.LearnedFusion`), the learned fusion (inits unused)."""
    windows = WindowFusion.of(model.scale, frames, fusion, settings=settings)
    out: list[np.ndarray] = []
    for index, plane in enumerate(lr):
        out += windows.push(plane, None if fusion is not None else inits[index])
    out += windows.finish()
    return [plane.astype(np.float64) for plane in out]


def evaluate_video(
    data: str | os.PathLike[str],
    *,
    model: Any = None,
    scale: int = 4,
    frames: int = 5,
    methods: tuple[str, ...] | None = None,
    max_frames: int | None = None,
    precision: str = "fp32",
    progress: Callable[[str, str], None] | None = None,
    fusion_model: Any = None,
    ensemble: bool = False,
) -> VideoReport:
    """Evaluate bicubic, the single-frame model and the multi-frame modes on every sequence in `data`.

    model: an SRModel, a registered name or a checkpoint path (default: the best shipped model
    at `scale`). fusion_model: the same for the learned fusion's multi-frame model (default: the
    shipped one at the scale, if any). methods: default all of METHODS, "learned" only where a
    fusion model is given or shipped. max_frames: only the first N frames of each sequence. progress(sequence, method)
    is called for each method once a sequence is done (the methods run on it together, chunk by chunk). ensemble: every network (the single-frame model,
    the learned fusion and its single-frame estimate) on the 8 orientations, averaged. Raises InputError for a folder without
    sequences or frames too small for the scale, UnsupportedModelError for an unknown model.
    """
    try:
        check_frames(frames)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be at least 1, got {max_frames}")
    unknown = [m for m in methods or () if m not in METHODS]
    if unknown or methods == ():
        raise ConfigError(f"methods must be among {', '.join(METHODS)}, got {methods!r}")
    if model is None:
        model = load_model(default_model_name(scale), scale)
    elif not isinstance(model, SRModel):
        model = resolve(str(model), scale)
    scale = model.scale
    asked = methods is not None and "learned" in methods
    fusion = _learned_fusion(fusion_model, scale, precision, required=asked, ensemble=ensemble)
    if fusion is not None and fusion.frames != frames:  # found before any sequence is read, not after the first
        if asked:
            raise UnsupportedModelError(f"model {fusion.name} fuses {fusion.frames} frames; use --frames {fusion.frames}")
        if methods is None:
            log.info("no learned row: %s fuses %d frames, not %d", fusion.name, fusion.frames, frames)
        fusion = None
    if methods is None:
        methods = METHODS if fusion is not None else tuple(m for m in METHODS if m != "learned")
    started = time.perf_counter()
    sequences: list[SequenceResult] = []
    threads = torch.get_num_threads()
    for name, files in list_sequences(data):
        files = files[:max_frames]
        tallies = _evaluate_sequence(name, files, model, scale, frames, methods, precision, fusion, ensemble)
        for method in methods:
            if progress is not None:
                progress(name, method)
        height, width = tallies[methods[0]].size
        sequences.append(SequenceResult(name, len(files), (height, width), {m: t.scores() for m, t in tallies.items()}))
    report = VideoReport(str(data), scale, model.name, frames, sequences, time.perf_counter() - started)
    report.extra["threads"] = threads
    if ensemble:
        report.extra["ensemble"] = True
    if fusion is not None and "learned" in methods:
        report.extra["fusion_model"] = fusion.name
    return report


CHUNK_FRAMES = 16
"""Frames read and run through each method at a time (memory stays that of a chunk, whatever the
sequence's length; each method runs on a chunk alone, as it is timed)."""


class _Tally:
    """One method's scores over a sequence, summed as its frames come (in order): memory does not
    grow with the sequence's length."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.sums = np.zeros(4)
        self.count = 0
        self.tmae_sum = 0.0
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.seconds = 0.0
        self.size = (0, 0)

    def add(self, result: np.ndarray, truth: np.ndarray) -> None:
        self.sums += (psnr(result, truth, border=0), ssim(result, truth, border=0),
                      psnr(result, truth, border=self.scale), ssim(result, truth, border=self.scale))
        if self.previous is not None:
            self.tmae_sum += temporal_mae([self.previous[0], result], [self.previous[1], truth], border=self.scale)
        self.previous = (result, truth)
        self.count += 1
        self.size = (int(truth.shape[0]), int(truth.shape[1]))

    def scores(self) -> MethodScores:
        psnr0, ssim0, psnr_crop, ssim_crop = self.sums / max(1, self.count)
        return MethodScores(float(psnr0), float(ssim0), float(psnr_crop), float(ssim_crop),
                            self.tmae_sum / (self.count - 1) if self.count > 1 else math.nan,
                            self.seconds / max(1, self.count))


def _evaluate_sequence(name: str, files: list[Path], model: SRModel, scale: int, frames: int, methods: tuple[str, ...],
                       precision: str, fusion: Any, ensemble: bool) -> dict[str, _Tally]:
    """Every method on one sequence, frame by frame: each ground-truth frame is kept only until every
    method's result for it is scored (the multi-frame windows give theirs a few frames late)."""
    tallies = {method: _Tally(scale) for method in methods}
    windows = {"multi": WindowFusion.of(scale, frames, None) if "multi" in methods else None,
               "learned": WindowFusion.of(scale, frames, fusion) if "learned" in methods else None}
    truths: dict[int, np.ndarray] = {}
    scored = dict.fromkeys(methods, 0)

    def score(method: str, results: list[np.ndarray]) -> None:
        for result in results:
            tallies[method].add(result.astype(np.float64), truths[scored[method]])
            scored[method] += 1

    first_shape = None
    single_seconds = 0.0
    for chunk_start in range(0, len(files), CHUNK_FRAMES):
        lrs = []
        for index, path in enumerate(files[chunk_start: chunk_start + CHUNK_FRAMES], chunk_start):
            hr = mod_crop(read_rgb(path), scale)
            if first_shape is None:
                if min(hr.shape[:2]) < 2 * scale + 11:
                    raise InputError(f"the frames of {name} are too small to evaluate at scale {scale}")
                first_shape = hr.shape
            elif hr.shape != first_shape:
                raise InputError(f"the frames of {name} differ in size ({path.name} is not the size of {files[0].name}): "
                                 "a sequence is one video's frames")
            truths[index] = rgb_to_y8(hr)
            lrs.append(rgb_to_y8(degrade_rgb(hr, scale)))
        singles: list[Any] = [None] * len(lrs)
        if "single" in methods or "multi" in methods:
            t0 = time.perf_counter()
            singles = [upscale_luma(model, lr, precision=precision, ensemble=ensemble) for lr in lrs]
            single_seconds += time.perf_counter() - t0
        for method in methods:  # each method on the whole chunk: timed as it runs alone
            t0 = time.perf_counter()
            if method == "bicubic":
                results = [np.clip(np.rint(imresize(lr, float(scale))), 0, 255) for lr in lrs]
            elif method == "single":
                results = singles
            else:
                results = [out for lr, single in zip(lrs, singles)
                           for out in windows[method].push(lr, single if method == "multi" else None)]
            tallies[method].seconds += time.perf_counter() - t0
            score(method, results)
        for done in [i for i in truths if i < min(scored.values())]:
            del truths[done]
    for method in ("multi", "learned"):
        if windows[method] is not None:
            t0 = time.perf_counter()
            results = windows[method].finish()
            tallies[method].seconds += time.perf_counter() - t0
            score(method, results)
    for method in ("single", "multi"):  # the multi-frame mode's time includes its single-frame estimate
        if method in tallies:
            tallies[method].seconds += single_seconds
    return tallies


def _learned_fusion(fusion_model: Any, scale: int, precision: str, *, required: bool, ensemble: bool = False) -> Any:
    """The LearnedFusion for `fusion_model` (SRModel, name or checkpoint path), else the shipped
    multi-frame model at `scale`; None if there is none and it is not `required`."""
    if fusion_model is None:
        shipped = [n for n in MULTI_FRAME_ARCHS if weights_path(n, scale).is_file()]
        if not shipped:
            if required:
                raise UnsupportedModelError(f"no multi-frame model is shipped at x{scale}; give one for 'learned'")
            return None
        fusion_model = shipped[0]
    if not isinstance(fusion_model, SRModel):
        fusion_model = resolve(str(fusion_model), scale)
    if fusion_model.scale != scale:
        raise UnsupportedModelError(f"the fusion model is x{fusion_model.scale}, the single-frame model x{scale}")
    return LearnedFusion(fusion_model, "cpu", precision, ensemble)


def _tmae(value: float) -> str:
    """tMAE in the table's column: "–" where it is undefined (a one-frame sequence has no frame differences)."""
    return f"{'–':>6}" if math.isnan(value) else f"{value:6.3f}"


def format_video_report(report: VideoReport) -> str:
    """A plain-text table: one row per sequence and method, then the means."""
    width = max([len(s.name) for s in report.sequences] + [len("mean")])
    head = (f"{'sequence':<{width}}  {'method':<8} {'PSNR':>7} {'SSIM':>7}  {'PSNR/c':>7} {'SSIM/c':>7}"
            f"  {'tMAE':>6}  {'s/frame':>7}")
    lines = [head, "-" * len(head)]

    def row(label: str, method: str, s: dict[str, float]) -> str:
        return (f"{label:<{width}}  {method:<8} {s['psnr']:7.3f} {s['ssim']:7.4f}  {s['psnr_crop']:7.3f} "
                f"{s['ssim_crop']:7.4f}  {_tmae(s['tmae'])}  {s['seconds_per_frame']:7.3f}")

    for seq in report.sequences:
        for method in report.methods:
            lines.append(row(seq.name, method, asdict(seq.scores[method])))
    lines.append("-" * len(head))
    for method in report.methods:
        lines.append(row("mean", method, {k: report.mean(method, k) for k in
                                          ("psnr", "ssim", "psnr_crop", "ssim_crop", "tmae", "seconds_per_frame")}))
    frames = sorted({s.frames for s in report.sequences})
    lines.append(
        f"x{report.scale}, single-frame model {report.model}, multi-frame window {report.frames}"
        f"{', every network self-ensembled (8 orientations)' if report.extra.get('ensemble') else ''}; "
        f"Y channel, PSNR/SSIM with border 0, /c with border {report.scale}; tMAE: flicker against the "
        f"ground truth's frame differences (8-bit levels, lower is steadier); {len(report.sequences)} sequence(s) "
        f"of {'/'.join(map(str, frames))} frames; wall time {report.wall_seconds:.0f} s"
    )
    for method in ("multi", "learned"):
        if "single" in report.methods and method in report.methods:
            gain = report.mean(method, "psnr") - report.mean("single", "psnr")
            gain_c = report.mean(method, "psnr_crop") - report.mean("single", "psnr_crop")
            own = (f" ({report.extra['fusion_model']} runs its own single-frame network, not {report.model})"
                   if method == "learned" and report.extra.get("fusion_model") else "")
            lines.append(f"{method} − single: {gain:+.3f} dB (border 0), {gain_c:+.3f} dB (border {report.scale}){own}")
    return "\n".join(lines)
