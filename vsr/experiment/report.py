"""The files an experiment leaves in DIR: points.csv, frames.csv, hull.csv, bdrate.csv,
results.json, summary.md, rd_<metric>.png and crops/, each written atomically from the cached
points of the current grid."""

from __future__ import annotations

import csv
import logging
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsr.experiment.analysis import (
    METRIC_NAMES, Comparison, Record, compare, direct_curve, hull_curve, sentence, upscalers_of,
)
from vsr.experiment.bdrate import floored_percent
from vsr.experiment.cache import RESULTS, ExperimentDir, write_json, write_text
from vsr.experiment.crops import read_png, side_by_side, write_png
from vsr.experiment.ladder import Source, crop_tile_key, source_crop_key
from vsr.experiment.measure import POOLINGS
from vsr.experiment.plot import plot_metric, plots_unavailable
from vsr.experiment.spec import ExperimentSettings
from vsr.experiment.upscalers import DIRECT
from vsr.files import atomic_path

log = logging.getLogger(__name__)


@dataclass
class ReportInputs:
    """What the report is made of: the grid's point records (every point of the settings' grid,
    cached or new), the encode records, the settings, the source, what was skipped and why, the
    library versions and this run's counts and wall time."""

    settings: ExperimentSettings
    source: Source
    source_sha256: str
    points: list[Record]
    encodes: list[Record]
    metrics: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)


def write_report(folder: ExperimentDir, inputs: ReportInputs) -> list[Comparison]:
    """Write every output file into the folder, results.json last (removed first: a folder without it
    holds a report that was cut short), and remove plots and crops this run no longer makes;
    returns the BD comparisons."""
    (folder.root / RESULTS).unlink(missing_ok=True)
    points = sorted(inputs.points, key=lambda r: (r["scale"], r["rate"], r["upscaler"] != DIRECT, r["upscaler"]))
    comparisons = compare(points, inputs.metrics, inputs.settings.anchor)
    root = folder.root
    _write_points(root / "points.csv", points, inputs.metrics)
    _write_frames(root / "frames.csv", folder, points)
    hull_rows = _hull_rows(points, inputs.metrics)
    hull_columns = ["upscaler", "metric", "order", "scale", "rate_mode", "rate", "kbps", "quality", "point_of"]
    _write_rows(root / "hull.csv", hull_columns, hull_rows)
    _write_rows(root / "bdrate.csv", BD_COLUMNS, [_bd_row(c) for c in comparisons])
    timing = timing_split(points, inputs.encodes)
    plots = _write_plots(root, points, inputs)
    crops = _write_crops(folder, inputs.source, points)
    _remove_others(root.glob("rd_*.png"), plots)
    _remove_others((root / "crops").glob("*.png"), [Path(crop).name for crop in crops])
    write_text(root / "summary.md", summary_markdown(inputs, comparisons, timing))
    write_json(root / RESULTS, {
        "settings": inputs.settings.to_dict(),
        "source": _source_dict(inputs),
        "versions": inputs.versions,
        "models": _model_hashes(points),
        "skipped": inputs.skipped,
        "run": inputs.run,
        "timing_seconds": timing,
        "points": points,
        "hull": hull_rows,
        "bdrate": [_bd_row(c) for c in comparisons],
        "plots": plots,
        "crops": crops,
    })
    return comparisons


def _remove_others(files: Iterable[Path], kept: Sequence[str]) -> None:
    """Remove the files of an earlier run that this one no longer writes (their names not in `kept`)."""
    for path in files:
        if path.name not in kept:
            path.unlink(missing_ok=True)


def _metric_columns(metrics: Sequence[str]) -> list[str]:
    return [f"{m}_{p}" for m in metrics for p in POOLINGS]


POINT_COLUMNS = ["codec", "scale", "rate_mode", "rate", "upscaler", "lr_width", "lr_height", "frames", "video_bytes",
                 "kbps"]
SECONDS_COLUMNS = ["encode_seconds", "downscale_seconds", "decode_seconds", "upscale_seconds", "metric_seconds"]
BD_COLUMNS = ["test", "anchor", "metric", "method", "bd_rate_pct", "bd_metric", "overlap", "rate_overlap", "points",
              "quality_low", "quality_high", "status", "metric_status"]


def _write_rows(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as temp, open(temp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(row.get(k)) for k in header])


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def _write_points(path: Path, points: list[Record], metrics: Sequence[str]) -> None:
    header = POINT_COLUMNS + _metric_columns(metrics) + SECONDS_COLUMNS
    rows = []
    for point in points:
        row = {k: point.get(k) for k in POINT_COLUMNS + SECONDS_COLUMNS}
        for metric in metrics:
            for pooling in POOLINGS:
                row[f"{metric}_{pooling}"] = point["metrics"].get(metric, {}).get(pooling)
        rows.append(row)
    _write_rows(path, header, rows)


def _write_frames(path: Path, folder: ExperimentDir, points: list[Record]) -> None:
    """All points' per-frame rows in one CSV, streamed from the cached per-point files."""
    with atomic_path(path) as temp, open(temp, "w", newline="") as out:
        for k, point in enumerate(points):
            with open(folder.frames_file(point["key"]), newline="") as part:
                header = part.readline()
                if k == 0:
                    out.write(header)
                shutil.copyfileobj(part, out)


def _hull_rows(points: list[Record], metrics: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for metric in metrics:
        for upscaler in upscalers_of(points):
            hull = hull_curve(points, upscaler, metric)
            for order, (point, q) in enumerate(zip(hull.points, hull.qualities(metric))):
                rows.append({"upscaler": upscaler, "metric": metric, "order": order, "scale": point["scale"],
                             "rate_mode": point["rate_mode"], "rate": point["rate"], "kbps": point["kbps"], "quality": q,
                             "point_of": point["upscaler"]})
    return rows


def _bd_row(comparison: Comparison) -> dict[str, Any]:
    result = comparison.result
    low, high = result.quality_range or (None, None)
    return {
        "test": comparison.test.name, "anchor": comparison.anchor.name, "metric": comparison.metric,
        "method": result.method, "bd_rate_pct": result.bd_rate_pct, "bd_metric": result.bd_metric,
        "overlap": result.overlap, "rate_overlap": result.rate_overlap,
        "points": f"{result.test_points}/{result.anchor_points}", "quality_low": low, "quality_high": high,
        "status": result.status, "metric_status": result.metric_status,
    }


def timing_split(points: list[Record], encodes: list[Record]) -> dict[str, float]:
    """Seconds of work behind the grid's points (when they were computed, cached or not):
    encode and downscale once per encode, decode, upscale and metrics per point."""
    return {
        "encode": float(sum(e["encode_seconds"] for e in encodes)),
        "downscale": float(sum(e["downscale_seconds"] for e in encodes)),
        "decode": float(sum(p["decode_seconds"] for p in points)),
        "upscale": float(sum(p["upscale_seconds"] for p in points)),
        "metrics": float(sum(p["metric_seconds"] for p in points)),
    }


def _source_dict(inputs: ReportInputs) -> dict[str, Any]:
    source, info = inputs.source, inputs.source.info
    return {
        "path": str(info.path), "sha256": inputs.source_sha256, "width": info.width, "height": info.height,
        "codec": info.codec, "pix_fmt": info.pix_fmt, "frame_rate": str(info.average_rate),
        "start_seconds": inputs.settings.start, "frames": source.frames, "duration_seconds": source.duration,
        "crop": None if source.crop is None else vars(source.crop),
    }


def _model_hashes(points: list[Record]) -> dict[str, dict[str, str]]:
    """upscaler → "x<scale>" → sha256 of the weight file it ran (models only)."""
    hashes: dict[str, dict[str, str]] = {}
    for point in points:
        sha = point.get("upscaler_identity", {}).get("weights_sha256")
        if sha:
            hashes.setdefault(point["upscaler"], {})[f"x{point['scale']}"] = sha
    return hashes


def _write_plots(root: Path, points: list[Record], inputs: ReportInputs) -> list[str]:
    reason = plots_unavailable()
    if reason is not None:
        log.info("plots skipped: %s", reason)
        inputs.skipped["plots"] = reason
        return []
    names = []
    info = inputs.source.info
    for metric in inputs.metrics:
        name = f"rd_{metric}.png"
        title = (f"{info.path.name}, {inputs.source.frames} frames from {inputs.settings.start:g} s, "
                 f"{inputs.settings.codec} {inputs.settings.preset}")
        plot_metric(points, metric, root / name, title)
        names.append(name)
    return names


def _write_crops(folder: ExperimentDir, source: Source, points: list[Record]) -> list[str]:
    """crops/x<scale>_<rate>.png for each rung above scale 1: the source, the direct encode nearest
    in rate, then each upscaler's result of that same rung (the same bits), all cut with this run's
    crop box (tiles are cached per box: vsr.experiment.ladder.crop_tile_key)."""
    crop = source.crop
    if crop is None:
        return []
    reference = read_png(folder.crop_file(source_crop_key(folder, crop)))
    if reference is None:
        return []
    out_dir = folder.root / "crops"
    out_dir.mkdir(exist_ok=True)
    direct = list(direct_curve(points).points)
    written = []
    rungs = sorted({(p["scale"], p["rate"]) for p in points if p["scale"] > 1})
    for scale, rate in rungs:
        rung = [p for p in points if (p["scale"], p["rate"]) == (scale, rate)]
        tiles = [("source", reference)]
        if direct:
            nearest = min(direct, key=lambda d: abs(math.log(d["kbps"] / rung[0]["kbps"])))
            tile = read_png(folder.crop_file(crop_tile_key(folder, nearest["key"], crop)))
            if tile is not None:
                tiles.append((f"direct {nearest['rate_mode']}{nearest['rate']} {nearest['kbps']:.0f}k", tile))
        for point in rung:
            tile = read_png(folder.crop_file(crop_tile_key(folder, point["key"], crop)))
            if tile is not None:
                tiles.append((f"{point['upscaler']} x{scale} {point['kbps']:.0f}k", tile))
        name = f"x{scale}_{rung[0]['rate_mode']}{rate}.png"
        write_png(out_dir / name, side_by_side(tiles))
        written.append(f"crops/{name}")
    return written


def summary_markdown(inputs: ReportInputs, comparisons: list[Comparison], timing: dict[str, float]) -> str:
    """The BD table (PCHIP and Akima side by side) and one sentence per upscaler."""
    settings, source = inputs.settings, inputs.source
    rates = ", ".join(map(str, settings.rates))
    lines = [
        f"# Streaming-cost experiment: {source.info.path.name}",
        "",
        f"{source.frames} frames ({source.duration:.2f} s) from {settings.start:g} s, "
        f"{source.info.width}x{source.info.height}; {settings.codec} preset {settings.preset}, "
        f"{settings.rate_mode} {rates}; scales {', '.join(map(str, settings.scales))}; "
        f"downscale: MATLAB-style antialiased bicubic; metrics on the 8-bit Y plane, mean over frames.",
        "",
        "| test | anchor | metric | BD-rate PCHIP | BD-rate Akima | BD-metric PCHIP | overlap | points | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    pairs: dict[tuple[str, str, str], dict[str, Comparison]] = {}
    for c in comparisons:
        pairs.setdefault((c.test.name, c.anchor.name, c.metric), {})[c.result.method] = c
    for (test, anchor, metric), methods in pairs.items():
        pchip, akima = methods.get("pchip"), methods.get("akima")
        main = pchip or akima
        lines.append(
            f"| {test} | {anchor} | {METRIC_NAMES.get(metric, metric)} | {_pct(pchip)} | {_pct(akima)} | "
            f"{_num(pchip.result.bd_metric if pchip else None)} | {floored_percent(main.result.overlap)} | "
            f"{main.result.test_points}/{main.result.anchor_points} | {main.result.status} |"
        )
    lines += ["", "## In one sentence each", ""]
    primary = "vmaf" if "vmaf" in inputs.metrics else "psnr"
    for comparison in comparisons:
        if comparison.metric != primary or comparison.result.method != "pchip":
            continue
        if comparison.test.kind == "hull" and comparison.anchor.kind in ("hull", "direct"):
            lines.append(f"- {sentence(comparison)}")
        elif comparison.test.kind == "scale":
            lines.append(f"- {sentence(comparison)}")
    if inputs.skipped:
        lines += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in inputs.skipped.items()]
    total = sum(timing.values())
    lines += [
        "", "## Time", "",
        f"Work behind these points: {total:.0f} s — " + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items())
        + f". This run: {inputs.run.get('wall_seconds', 0):.0f} s wall, {inputs.run.get('encodes_run', 0)} encodes and "
        f"{inputs.run.get('points_run', 0)} points computed, {inputs.run.get('points_cached', 0)} points from the cache.",
        "",
    ]
    return "\n".join(lines)


def _pct(comparison: Comparison | None) -> str:
    if comparison is None or comparison.result.bd_rate_pct is None:
        return "N/A"
    return f"{comparison.result.bd_rate_pct:+.1f} %"


def _num(value: float | None) -> str:
    """A BD-metric: three decimals, or two significant digits below 0.001 (SSIM's differences,
    which printed as -0.000)."""
    if value is None or not np.isfinite(value):
        return "N/A"
    return f"{value:+.1e}" if 0 < abs(value) < 0.001 else f"{value:+.3f}"
