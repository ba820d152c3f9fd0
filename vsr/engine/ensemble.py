"""An engine run on the 8 orientations of every batch, averaged (`vsr.models.ensemble`): `--ensemble`."""

from __future__ import annotations

from typing import Any

import numpy as np

from vsr.models.ensemble import self_ensemble


class EnsembleEngine:
    """Wraps a single-frame LumaEngine: each batch runs once per orientation (submitted and collected
    in turn), and the 8 quantised results, turned back, are averaged and rounded to the input's sample type.
    Chroma is left to the caller."""

    upscales_chroma = False
    ensemble = True

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.scale, self.device, self.precision = inner.scale, inner.device, inner.precision

    def submit(self, lumas: list[np.ndarray]) -> list[np.ndarray]:
        means = self_ensemble(lambda planes: self.inner.collect(self.inner.submit(planes)), lumas)
        return [np.rint(mean).astype(lumas[0].dtype) for mean in means]

    def collect(self, handle: list[np.ndarray]) -> list[np.ndarray]:
        return handle
