"""`run_experiment`: does super-resolution save bits on this clip? Checks everything it can before
the first frame (input, sizes, encoder, upscalers, the folder), surveys the source, computes the
grid's missing encodes and points (vsr.experiment.ladder) and writes the report."""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsr.device import choose_device
from vsr.engine.cpu import heap_given_back_after
from vsr.errors import ConfigError, UnsupportedModelError
from vsr.experiment.analysis import Comparison
from vsr.experiment.cache import ExperimentDir
from vsr.experiment.ladder import (
    PointJob, Progress, Rung, check_rung_sizes, cut_crop_tiles, encode_rungs, missing_crop_tiles, rung_size, score_rung,
    survey,
)
from vsr.experiment.measure import VMAF_METRICS, vmaf_unavailable, vmaf_version
from vsr.experiment.report import ReportInputs, write_report
from vsr.experiment.spec import PIX_FMT, ExperimentSettings
from vsr.experiment.upscalers import DIRECT, Upscaler, cleans, make_upscaler, supports_scale, upscaler_identity
from vsr.files import file_sha256
from vsr.media.encode import check_preset
from vsr.media.ladder import check_encoder, library_versions
from vsr.media.probe import probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentResult:
    """folder: DIR; points: every point record of the grid; comparisons: the BD figures;
    encodes_run / points_run: computed by this run; encodes_cached / points_cached: found in DIR."""

    folder: Path
    points: list[dict[str, Any]]
    comparisons: list[Comparison]
    encodes_run: int
    points_run: int
    encodes_cached: int
    points_cached: int
    wall_seconds: float


@heap_given_back_after()
def run_experiment(
    source: str | Path,
    folder: str | Path,
    settings: ExperimentSettings = ExperimentSettings(),
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ExperimentResult:
    """Measure the ladder `settings` describe on `source` into `folder` (see vsr.experiment).

    progress(done, total): frame-steps of the missing work (a frame encoded at one rate, or scored
    for one upscaler). Raises InputError (no video, unreadable, an empty range), ConfigError (bad
    settings, a scale making a side under 16 px, an unknown codec, a folder holding another
    experiment), UnsupportedModelError (an unknown upscaler), OutputError (a folder it cannot
    write), PipelineError (an encode that does not decode back to the source's frames).
    """
    settings = settings.validate()
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _run(Path(source), Path(folder), settings, overwrite, progress)
    finally:
        torch.set_num_threads(threads)


def _run(source: Path, folder: Path, settings: ExperimentSettings, overwrite: bool,
         progress: Callable[[int, int], None] | None) -> ExperimentResult:
    started = time.perf_counter()
    info = probe(source)
    check_rung_sizes(info, settings.scales, settings.codec, settings.rate_mode)
    check_encoder(settings.codec, PIX_FMT)
    check_preset(settings.codec, settings.preset)
    pairs, skipped = _upscaler_scales(settings)
    scales = [s for s in settings.scales if s == 1 or any(scale == s for _, scale in pairs)]  # none: not encoded
    metrics, skipped_metrics = _measurable(settings.metrics)
    skipped.update(skipped_metrics)
    upscaled = any(scale > 1 for _, scale in pairs)
    if upscaled and settings.anchor not in settings.upscalers and settings.anchor != ExperimentSettings.anchor:
        raise ConfigError(f"the anchor {settings.anchor} is not among the upscalers ({', '.join(settings.upscalers)}): "
                          "add it to --upscalers, or check its spelling")
    if settings.scales == (1,):
        log.warning("--scales 1 alone measures the direct encodes only: add 2 (and 4) to compare upscaled rungs")
    if upscaled and settings.anchor not in settings.upscalers:
        log.warning("the anchor %s is not among the upscalers (%s): they are compared with the direct encodes only",
                    settings.anchor, ", ".join(settings.upscalers))
    warning = settings.bd_warning()
    if warning:
        log.warning(warning)
    if pairs:
        choose_device(settings.device)  # no CUDA (and below, a precision the device lacks): said before the folder is touched
    identities = {(u, s): upscaler_identity(u, s, settings.device, settings.precision) for u, s in pairs}
    src = survey(info, settings.start, settings.frames, settings.crop_size)
    sha = file_sha256(info.path)
    # the frames read, not asked for: --frames 100 on a 12-frame clip measures what no --frames does
    frames = None if src.to_end else src.frames
    experiment = ExperimentDir(folder, {"source_sha256": sha, **settings.identity(), "frames": frames}, overwrite=overwrite)
    log.info("%s: %d frames (%.2f s) from %g s, %dx%d", info.path.name, src.frames, src.duration, settings.start,
             info.width, info.height)

    rungs = {(s, r): Rung(s, r, experiment.point_key({"encode": True, "scale": s, "rate_mode": settings.rate_mode,
                                                       "rate": r}))
             for s in scales for r in settings.rates}
    jobs: dict[tuple[int, int], list[PointJob]] = {}
    for (scale, rate), rung in rungs.items():
        names = ([DIRECT] if scale == 1 else []) + [u for u, s in pairs if s == scale]
        for name in names:
            identity = {} if name == DIRECT else identities[(name, scale)]
            key = experiment.point_key({"point": rung.key, "upscaler": name, "identity": identity, "metrics": metrics})
            jobs.setdefault((scale, rate), []).append(PointJob(key, name, None, identity))

    cached_encodes = {k: experiment.encode_record(r.key) for k, r in rungs.items()}
    cached_points = {j.key: experiment.point_record(j.key) for js in jobs.values() for j in js}
    missing_encodes = [k for k, rec in cached_encodes.items() if rec is None]
    missing_points = [j for js in jobs.values() for j in js if cached_points[j.key] is None]
    total = src.frames * (len(missing_encodes) + len(missing_points))
    tracker = Progress(progress, total)
    if total:
        tracker.advance(0)

    encodes_run = points_run = 0
    encodes: dict[tuple[int, int], dict[str, Any]] = {k: v for k, v in cached_encodes.items() if v is not None}
    points: dict[str, dict[str, Any]] = {k: v for k, v in cached_points.items() if v is not None}
    for scale in scales:
        todo = [rungs[(scale, r)] for r in settings.rates if (scale, r) in missing_encodes]
        if todo:
            records = encode_rungs(experiment, src, scale, todo, settings.codec, settings.preset, settings.rate_mode, tracker)
            encodes.update({(scale, rec["rate"]): rec for rec in records})
            encodes_run += len(records)
        upscalers: dict[str, Upscaler] = {}
        for rate in settings.rates:
            pending = [j for j in jobs[(scale, rate)] if j.key not in points]
            # cached points scored with another crop box (another crop size): only their tiles are cut
            untiled = missing_crop_tiles(experiment, src, [j for j in jobs[(scale, rate)] if j.key in points])
            for job in pending + untiled:
                if job.name != DIRECT:
                    if job.name not in upscalers:
                        width, height = rung_size(info.width, info.height, scale)
                        upscalers[job.name] = make_upscaler(job.name, scale, width, height, settings.device,
                                                            settings.precision)
                    job.upscaler = upscalers[job.name]
            if pending:
                for record in score_rung(experiment, src, encodes[(scale, rate)], pending, metrics, tracker):
                    points[record["key"]] = record
                    points_run += 1
            cut_crop_tiles(experiment, src, encodes[(scale, rate)], untiled)

    grid = [points[j.key] for js in jobs.values() for j in js]
    wall = time.perf_counter() - started
    result = dict(encodes_run=encodes_run, points_run=points_run, encodes_cached=len(rungs) - len(missing_encodes),
                  points_cached=len(cached_points) - len(missing_points))
    inputs = ReportInputs(
        settings=settings, source=src, source_sha256=sha, points=grid, encodes=list(encodes.values()),
        metrics=metrics, skipped=skipped, versions=versions(),
        run={**result, "wall_seconds": wall, "host": platform.node(), "torch_threads": torch.get_num_threads()},
    )
    comparisons = write_report(experiment, inputs)
    return ExperimentResult(folder, grid, comparisons, wall_seconds=time.perf_counter() - started, **result)


def _upscaler_scales(settings: ExperimentSettings) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """(upscaler, scale) for every upscaler and scale above 1 it supports, and scale 1 for one with
    an x1 (clean-up) model; the pairs left out (with a warning). Raises UnsupportedModelError for
    an unknown upscaler or one that supports none of the scales above 1."""
    scales = [s for s in settings.scales if s > 1]
    pairs: list[tuple[str, int]] = []
    skipped: dict[str, str] = {}
    for name in settings.upscalers:
        if name == DIRECT:
            raise UnsupportedModelError(f"{DIRECT!r} names the scale-1 encodes; it is not an upscaler")
        usable = [s for s in scales if supports_scale(name, s)]
        clean_up = 1 in settings.scales and cleans(name)
        if scales and not usable and not clean_up:
            raise UnsupportedModelError(f"upscaler {name} has no model for the scale(s) asked for ({', '.join(map(str, scales))}); "
                                        "vsr models lists the scales each model ships at")
        if clean_up:
            pairs.append((name, 1))
        for scale in scales:
            if scale in usable:
                pairs.append((name, scale))
            else:
                skipped[f"{name} x{scale}"] = f"{name} has no x{scale} model"
                log.warning("%s has no x%d model: its x%d points are left out", name, scale, scale)
    return pairs, skipped


def _measurable(metrics: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """The metrics that can be measured here and the ones skipped, with the reason (logged)."""
    reason = vmaf_unavailable()
    if reason is None:
        return metrics, {}
    skipped = {m: reason for m in metrics if m in VMAF_METRICS}
    for metric in skipped:
        log.warning("%s skipped: %s", metric, reason)
    return tuple(m for m in metrics if m not in VMAF_METRICS), skipped


def versions() -> dict[str, Any]:
    """Versions of what the figures depend on."""
    found: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for package in ("vsr", "scipy", "matplotlib", "opencv-python-headless"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    found["vmaf-torch"] = vmaf_version()
    found.update(library_versions())
    return found

