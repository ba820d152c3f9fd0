"""Bjøntegaard deltas between two rate-quality curves: BD-rate (the average difference in bits at
equal quality, %) and BD-metric (the average difference in quality at equal rate).

The method of the `bjontegaard` package (FAU-LMS; the JVET CTC sheet for PCHIP): each curve is
interpolated (rate as log10), with PCHIP by default or Akima, integrated over the interval where
both curves have points, and the integrals compared. A figure is only given where it is not
extrapolated from nothing: each curve needs BD_MIN_POINTS points with quality rising with rate,
and the curves must share at least MIN_OVERLAP of the union of their ranges; otherwise the
result says N/A and why. Points that share a rate (two encodes landing on the same bitrate) are
one point, the best quality of them: the interpolators need rates that strictly rise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

from vsr.experiment.spec import BD_MIN_POINTS

METHODS = ("pchip", "akima")
MIN_OVERLAP = 0.75


@dataclass(frozen=True)
class BdResult:
    """bd_rate_pct: test bits relative to the anchor at equal quality, in % (−10: 10 % fewer bits);
    bd_metric: test quality minus anchor quality at equal rate, in the metric's units; either is
    None where it cannot be given. overlap: shared share of the quality ranges (for BD-rate);
    rate_overlap: of the log-rate ranges (for BD-metric). quality_range: the quality interval the
    BD-rate averages over. status: of the BD-rate, "ok" or "n/a: <reason>"; metric_status: of
    the BD-metric (one may be given where the other is not)."""

    method: str
    bd_rate_pct: float | None
    bd_metric: float | None
    overlap: float
    rate_overlap: float
    anchor_points: int
    test_points: int
    quality_range: tuple[float, float] | None
    status: str
    metric_status: str = ""


def bd(
    anchor_rate: Sequence[float], anchor_quality: Sequence[float],
    test_rate: Sequence[float], test_quality: Sequence[float],
    method: str = "pchip", *, min_points: int = BD_MIN_POINTS, min_overlap: float = MIN_OVERLAP,
) -> BdResult:
    """BD-rate and BD-metric of the test curve against the anchor curve.

    rates: positive (any unit, the same for both); qualities: higher is better. Points are taken
    in rate order; of points that share a rate, the best quality is kept. Raises ValueError for an
    unknown method or mismatched lengths (the caller's mistakes), never for the values.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    ra, qa, dropped_a = _curve(anchor_rate, anchor_quality)
    rt, qt, dropped_t = _curve(test_rate, test_quality)
    counts = (len(ra), len(rt))
    reasons = []
    if min(counts) < min_points:
        dropped = dropped_a if len(ra) <= len(rt) else dropped_t
        merged = f"; {dropped} point(s) sharing a rate with a better one left out" if dropped else ""
        reasons.append(f"{min(counts)} point(s) on a curve (fewer than {min_points}{merged})")
    for name, q in (("anchor", qa), ("test", qt)):
        if len(q) >= 2 and np.any(np.diff(q) <= 0):
            reasons.append(f"the {name}'s quality does not rise with its rate")
    if len(ra) < 2 or len(rt) < 2:
        return BdResult(method, None, None, 0.0, 0.0, *counts, None, _status(reasons), _status(reasons))
    la, lt = np.log10(ra), np.log10(rt)
    q_overlap, q_lo, q_hi = _overlap(qa, qt)
    r_overlap, r_lo, r_hi = _overlap(la, lt)
    if reasons:
        return BdResult(method, None, None, q_overlap, r_overlap, *counts, None, _status(reasons), _status(reasons))
    rate_pct = metric = None
    rate_reasons: list[str] = []
    metric_reasons: list[str] = []
    if q_overlap >= min_overlap:
        # rate as a function of quality, integrated over the shared quality range
        delta = _mean_difference(qa, la, qt, lt, q_lo, q_hi, method, rate_reasons)
        rate_pct = None if delta is None else (10.0**delta - 1.0) * 100.0
    else:
        rate_reasons.append(f"the quality ranges overlap by {floored_percent(q_overlap)} (under {min_overlap:.0%})")
    if r_overlap >= min_overlap:
        metric = _mean_difference(la, qa, lt, qt, r_lo, r_hi, method, metric_reasons)
    else:
        metric_reasons.append(f"the rate ranges overlap by {floored_percent(r_overlap)} (under {min_overlap:.0%})")
    quality_range = (float(q_lo), float(q_hi)) if rate_pct is not None else None
    return BdResult(method, rate_pct, metric, q_overlap, r_overlap, *counts, quality_range,
                    _status(rate_reasons), _status(metric_reasons))


def _status(reasons: list[str]) -> str:
    return "ok" if not reasons else "n/a: " + "; ".join(reasons)


def _curve(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray, int]:
    """(rates, qualities, points left out): the finite points with a positive rate, by strictly
    rising rate; of points that share a rate, the best quality (the others counted as left out)."""
    if len(rate) != len(quality):
        raise ValueError(f"{len(rate)} rates for {len(quality)} qualities")
    best: dict[float, float] = {}
    kept = 0
    for r, q in zip(rate, quality):
        r, q = float(r), float(q)
        if math.isfinite(r) and math.isfinite(q) and r > 0:
            kept += 1
            best[r] = max(q, best.get(r, q))
    rates = sorted(best)
    return np.array(rates), np.array([best[r] for r in rates]), kept - len(rates)


def floored_percent(fraction: float) -> str:
    """`fraction` as a percentage to 0.1 %, rounded down: 0.7496 reads 74.9%, not 75% beside "under 75%"."""
    return f"{math.floor(fraction * 1000) / 10:g}%"


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(shared share of the union of the two ranges, shared low end, shared high end)."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    span = max(a.max(), b.max()) - min(a.min(), b.min())
    share = max(hi - lo, 0.0) / span if span > 0 else 0.0
    return float(share), float(lo), float(hi)


def _mean_difference(xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray, lo: float, hi: float,
                     method: str, reasons: list[str]) -> float | None:
    """Mean of f_test − f_anchor over [lo, hi], each f interpolating y over strictly increasing x;
    None (and the reason appended) when the interpolation refuses the points or gives no number."""
    try:
        fa, ft = _interpolator(xa, ya, method), _interpolator(xt, yt, method)
        value = float((ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo))
    except (ValueError, ZeroDivisionError) as error:
        reasons.append(f"{method} interpolation failed ({error})")
        return None
    if not math.isfinite(value):
        reasons.append(f"{method} interpolation gave {value}")
        return None
    return value


def _interpolator(x: np.ndarray, y: np.ndarray, method: str) -> PchipInterpolator | Akima1DInterpolator:
    if method == "akima" and len(x) > 2:
        return Akima1DInterpolator(x, y)
    return PchipInterpolator(x, y)  # two points: both are the straight line
