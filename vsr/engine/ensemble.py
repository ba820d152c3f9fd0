"""An engine run on the 8 orientations of every batch, averaged (`vsr.models.ensemble`): `--ensemble`."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vsr.models.ensemble import ORIENTATIONS, orient

TURN_BACK = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
"""OpenCV's rotation that undoes `turns` counter-clockwise quarter turns."""
SUM_DTYPES = {np.dtype(np.uint8): np.uint16, np.dtype(np.uint16): np.uint32}
"""Sample type → a type that holds the sum of 8 samples exactly (other types are summed in float64)."""


def turned_back(plane: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """`vsr.models.ensemble.unorient` as a contiguous plane, by OpenCV (a strided numpy copy of a
    turned 2160p plane costs several times more)."""
    if flip:
        plane = cv2.flip(plane, 1)
    return cv2.rotate(plane, TURN_BACK[turns]) if turns else plane


def rounded_mean_of_8(total: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`np.rint(total / 8)` (halves to even), in integers for an integer total, as `dtype`."""
    if total.dtype.kind == "f":
        return np.rint(total / 8).astype(dtype)
    quotient, remainder = total >> 3, total & 7
    round_up = (remainder > 4) | ((remainder == 4) & (quotient & 1).astype(bool))
    return (quotient + round_up).astype(dtype)


class EnsembleEngine:
    """Wraps a single-frame LumaEngine: each batch runs once per orientation, the next orientation
    submitted before the last is collected (so a GPU computes while the host sums), and the 8
    results, turned back, are summed in integers and rounded to the mean in the input's sample type.
    Chroma is left to the caller."""

    upscales_chroma = False
    ensemble = True

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.scale, self.device, self.precision = inner.scale, inner.device, inner.precision

    def submit(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        dtype = lumas[0].dtype
        totals: list[np.ndarray] = []

        def start(index: int) -> Any:
            turns, flip = ORIENTATIONS[index]
            return self.inner.submit([np.ascontiguousarray(orient(plane, turns, flip)) for plane in lumas])

        pending = start(0)
        for index, (turns, flip) in enumerate(ORIENTATIONS):
            following = start(index + 1) if index + 1 < len(ORIENTATIONS) else None
            # summed before the next submit: a CUDA engine's results live in buffers it reuses
            for i, result in enumerate(self.inner.collect(pending)):
                back = turned_back(result, turns, flip)
                if index == 0:
                    totals.append(back.astype(SUM_DTYPES.get(dtype, np.float64)))
                else:
                    np.add(totals[i], back, out=totals[i])
            pending = following
        return [rounded_mean_of_8(total, dtype) for total in totals]

    def collect(self, handle: list[np.ndarray]) -> list[np.ndarray]:
        return handle
