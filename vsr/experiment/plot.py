"""Rate-quality plots, rd_<metric>.png: quality against bitrate (log axis), a thin curve per
upscaler and scale, each upscaler's hull in bold, the direct encodes dashed (matplotlib, from the
`experiment` extra; without it the plots are skipped and the reason returned)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vsr.experiment.analysis import METRIC_NAMES, Record, direct_curve, hull_curve, scale_curve, scales_of, upscalers_of
from vsr.files import atomic_path

try:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
except ImportError:  # the `experiment` extra is not installed
    pyplot = None

log = logging.getLogger(__name__)


def plots_unavailable() -> str | None:
    """Why plots cannot be drawn here, or None when they can."""
    return None if pyplot is not None else "matplotlib is not installed (the experiment extra: pip install '.[experiment]' in the vsr checkout)"


def plot_metric(records: Sequence[Record], metric: str, path: Path, title: str) -> None:
    """Draw one metric's rate-quality plot into `path` (PNG, written atomically)."""
    figure, axes = pyplot.subplots(figsize=(8, 5.5), dpi=110)
    try:
        colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
        direct = direct_curve(records)
        if direct.points:
            axes.plot(direct.rates(), direct.qualities(metric), "k--", marker="s", markersize=4, linewidth=1.5,
                      label="direct (x1)")
        for k, upscaler in enumerate(upscalers_of(records)):
            colour = colours[k % len(colours)]
            for scale in scales_of(records):
                curve = scale_curve(records, upscaler, scale)
                if curve.points:
                    axes.plot(curve.rates(), curve.qualities(metric), color=colour, linewidth=0.7, marker="o",
                              markersize=3, alpha=0.7)
                    axes.annotate(f"x{scale}", (curve.rates()[0], curve.qualities(metric)[0]), fontsize=7,
                                  color=colour, textcoords="offset points", xytext=(-14, -3))
            hull = hull_curve(records, upscaler, metric)
            axes.plot(hull.rates(), hull.qualities(metric), color=colour, linewidth=2.6, label=f"{upscaler} hull")
        axes.set_xscale("log")
        axes.set_xlabel("video bitrate (kbps, log scale)")
        axes.set_ylabel(f"{METRIC_NAMES.get(metric, metric)} (mean over frames)")
        axes.set_title(title, fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        with atomic_path(path) as temp:
            figure.savefig(temp, format="png")
    finally:
        pyplot.close(figure)
