"""The upper convex hull of (rate, quality) points: the best quality any mix of rungs reaches at
each rate (Netflix's per-title method), on a linear rate axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def upper_hull(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points on the rising part of the upper convex hull, by increasing rate.

    points: (rate, quality) pairs (any units; rate on a linear axis). A point on the hull is one
    that no straight mix of two other points beats; after the highest quality the hull only
    falls, and those points (more bits for less quality) are left out, as are points that repeat
    a rate with less quality and points in the middle of a straight segment.
    Non-finite points are ignored. Returns [] for no points.
    """
    finite = [i for i, (r, q) in enumerate(points) if _finite(r) and _finite(q)]
    # by rate; at the same rate the best quality first, so the others are dropped below
    order = sorted(finite, key=lambda i: (points[i][0], -points[i][1]))
    hull: list[int] = []
    for i in order:
        if hull and points[hull[-1]][0] == points[i][0]:
            continue
        while len(hull) >= 2 and _cross(points[hull[-2]], points[hull[-1]], points[i]) >= 0:
            hull.pop()
        hull.append(i)
    if not hull:
        return hull
    best = max(range(len(hull)), key=lambda k: (points[hull[k]][1], -k))
    return hull[: best + 1]


def hull_of(items: Sequence[T], rate: Sequence[float], quality: Sequence[float]) -> list[T]:
    """The items whose (rate, quality) are on the upper hull, by increasing rate."""
    return [items[i] for i in upper_hull(list(zip(rate, quality)))]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """> 0 when o → a → b turns left (a lies below the segment o–b), 0 when they are collinear."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
