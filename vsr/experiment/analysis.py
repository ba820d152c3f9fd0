"""From scored points to answers: the curves (the direct encodes, each upscaler at each scale),
each upscaler's convex hull across scales and rates, and the BD comparisons between them.

A point's quality on a curve is the mean of its per-frame metric. Each upscaler's hull is taken
over the direct (scale 1) points and its own points: an upscaler is the identity at scale 1
unless it has an x1 (clean-up) model, which then also cleans every decoded full-resolution
rung, as a receiver-side post-filter. The hull then picks, rung by rung, the direct or the
cleaned point: the filter's on/off is one more encoding choice, made where the source is known,
as the choice of resolution is. Comparisons, for each metric and each BD method:

- every upscaler's hull against the anchor's (bicubic's) hull;
- every upscaler's hull against the direct curve (the full-resolution ladder alone);
- at each scale above 1, every upscaler's curve against the anchor's curve at that scale;
- at scale 1, every clean-up model's curve against the direct curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vsr.experiment.bdrate import METHODS, BdResult, bd
from vsr.experiment.hull import hull_of
from vsr.experiment.upscalers import DIRECT

Record = dict[str, Any]

METRIC_NAMES = {"psnr": "PSNR-Y", "ssim": "SSIM-Y", "vmaf": "VMAF", "vmaf_neg": "VMAF NEG"}


def quality(record: Record, metric: str) -> float:
    """The mean of `metric` over the point's frames (NaN where it was not measured)."""
    value = record.get("metrics", {}).get(metric, {}).get("mean")
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Curve:
    """Points by increasing rate. kind: "direct", "hull" (an upscaler's, across scales) or "scale"
    (one upscaler at one scale, every rate)."""

    name: str
    kind: str
    upscaler: str | None
    scale: int | None
    points: tuple[Record, ...]

    def rates(self) -> list[float]:
        return [p["kbps"] for p in self.points]

    def qualities(self, metric: str) -> list[float]:
        return [quality(p, metric) for p in self.points]


@dataclass(frozen=True)
class Comparison:
    """One BD figure: test curve against anchor curve, for a metric, by a method."""

    test: Curve
    anchor: Curve
    metric: str
    result: BdResult


def by_rate(records: Sequence[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=lambda r: (r["kbps"], r["scale"], r["rate"])))


def direct_curve(records: Sequence[Record]) -> Curve:
    return Curve("direct", "direct", None, 1, by_rate([r for r in records if r["upscaler"] == DIRECT]))


def scale_curve(records: Sequence[Record], upscaler: str, scale: int) -> Curve:
    points = [r for r in records if r["upscaler"] == upscaler and r["scale"] == scale]
    return Curve(f"{upscaler} x{scale}", "scale", upscaler, scale, by_rate(points))


def hull_curve(records: Sequence[Record], upscaler: str, metric: str) -> Curve:
    """The upper convex hull (linear rate, mean quality) of the direct points and `upscaler`'s."""
    candidates = [r for r in records if r["upscaler"] in (DIRECT, upscaler) and not math.isnan(quality(r, metric))]
    points = hull_of(candidates, [r["kbps"] for r in candidates], [quality(r, metric) for r in candidates])
    return Curve(f"{upscaler} hull", "hull", upscaler, None, tuple(points))


def upscalers_of(records: Sequence[Record]) -> list[str]:
    """The upscalers with points, in the order they first appear."""
    return list(dict.fromkeys(r["upscaler"] for r in records if r["upscaler"] != DIRECT))


def scales_of(records: Sequence[Record]) -> list[int]:
    """The scales with upscaler points (1 only where a clean-up model ran)."""
    return sorted({r["scale"] for r in records if r["upscaler"] != DIRECT})


def compare(records: Sequence[Record], metrics: Sequence[str], anchor: str | None) -> list[Comparison]:
    """Every BD comparison (see the module docstring) for every metric and method. `anchor`: the
    conventional upscaler (None or absent: no comparisons against it)."""
    names = upscalers_of(records)
    anchor = anchor if anchor in names else None
    direct = direct_curve(records)
    out = []
    for metric in metrics:
        hulls = {u: hull_curve(records, u, metric) for u in names}
        pairs: list[tuple[Curve, Curve]] = []
        if anchor is not None:
            pairs += [(hulls[u], hulls[anchor]) for u in names if u != anchor]
        if direct.points:
            pairs += [(hulls[u], direct) for u in names]
        for scale in scales_of(records):
            if scale == 1:
                pairs += [(scale_curve(records, u, 1), direct) for u in names]
            elif anchor is not None:
                base = scale_curve(records, anchor, scale)
                pairs += [(scale_curve(records, u, scale), base) for u in names if u != anchor]
        for test, base in pairs:
            if not test.points or not base.points:
                continue
            for method in METHODS:
                result = bd(base.rates(), base.qualities(metric), test.rates(), test.qualities(metric), method)
                out.append(Comparison(test, base, metric, result))
    return out


def sentence(comparison: Comparison) -> str:
    """One line of the summary, e.g. "espcn hull saves 12.3 % of the bits of the bicubic hull at
    equal VMAF over 70.1–92.4 (PCHIP)"."""
    result, metric = comparison.result, METRIC_NAMES.get(comparison.metric, comparison.metric)
    anchor = "the direct encodes" if comparison.anchor.kind == "direct" else f"the {comparison.anchor.name}"
    test = comparison.test.name
    if result.bd_rate_pct is None or result.quality_range is None:
        return f"{test} against {anchor} at equal {metric}: no BD-rate ({result.status.removeprefix('n/a: ')})."
    lo, hi = result.quality_range
    digits = 3 if comparison.metric == "ssim" else 1
    span = f"over {lo:.{digits}f}–{hi:.{digits}f}"
    pct = result.bd_rate_pct
    verb = f"saves {-pct:.1f} % of the bits of" if pct < 0 else f"needs {pct:.1f} % more bits than"
    return f"{test} {verb} {anchor} at equal {metric} {span} ({result.method.upper()})."
