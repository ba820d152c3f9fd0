"""Training patches degraded on the fly (`vsr.degrade`): for each sample an HR patch (or a short
pseudo-clip of shifted HR patches, for a codec pass) is drawn, flipped and rotated, and degraded
to the LR size; the target is the clean HR patch of the frame used. Nothing is written to disk."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vsr.degrade.chain import Chain, degrade_clip, sample_chain
from vsr.degrade.config import DegradeConfig
from vsr.eval.protocol import Pair
from vsr.train.data import PatchSampler


class DegradedPatchSampler(PatchSampler):
    """PatchSampler's image choice and augmentation, with the LR side made by a random degradation
    chain instead of the fixed bicubic downscale (clean draws still take the protocol's LR)."""

    def __init__(self, pairs: Sequence[Pair], degrade: DegradeConfig, **sampler: object) -> None:
        super().__init__(pairs, **sampler)  # type: ignore[arg-type]
        self.degrade = degrade

    def sample(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(lr, hr): float32 tensors (B, 1, P, P) and (B, 1, sP, sP) in [0, 1]."""
        b, p, s = self.batch, self.patch, self.scale
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        idx = torch.multinomial(self.weights, b, replacement=True, generator=generator).tolist()
        lrs = np.empty((b, p, p), np.float32)
        hrs = np.empty((b, s * p, s * p), np.float32)
        for k, i in enumerate(idx):
            lrs[k], hrs[k] = self._one(self.pairs[i], sample_chain(self.degrade, rng), rng)
        lr_t = torch.from_numpy(lrs).unsqueeze(1).div_(255.0)
        hr_t = torch.from_numpy(hrs).unsqueeze(1).div_(255.0)
        return lr_t, hr_t

    def _one(self, pair: Pair, chain: Chain, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        p, s = self.patch, self.scale
        h, w = pair.lr.shape[-2:]
        flip, turns = self.flips and rng.random() < 0.5, int(rng.integers(4)) if self.rot90 else 0
        if chain.clean:
            y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
            lr = pair.lr[y : y + p, x : x + p]
            hr = pair.hr[s * y : s * (y + p), s * x : s * (x + p)]
            return _augment(lr, flip, turns), _augment(hr, flip, turns)
        frames = int(rng.integers(self.degrade.clip_frames[0], self.degrade.clip_frames[1] + 1)) if chain.needs_clip else 1
        m = min(self.degrade.margin, (min(h, w) - p) // 2 // 2 * 2)  # even, and what the image has room for
        crops = _shifted_crops(pair.hr, s * (p + 2 * m), frames, round(self.degrade.clip_shift * s), rng)
        crops = [_augment(c, flip, turns) for c in crops]
        target = int(rng.integers(frames))
        lr_frames = degrade_clip(crops, (p + 2 * m, p + 2 * m), chain, rng)
        return lr_frames[target][m : m + p, m : m + p], crops[target][s * m : s * (m + p), s * m : s * (m + p)]


def degraded_validation(pairs: Sequence[Pair], degrade: DegradeConfig, seed: int) -> list[Pair]:
    """The validation pairs of an x1 (clean-up) model, for which a clean pair is the identity: each
    image degraded once by a damaged chain drawn from `degrade` with a fixed seed (a codec pass sees
    the image as a still clip of `clip_frames[0]` frames), cropped to even sides."""
    rng = np.random.default_rng(seed)
    out: list[Pair] = []
    for pair in pairs:
        chain = sample_chain(degrade, rng)
        while chain.clean:
            chain = sample_chain(degrade, rng)
        hr = pair.hr[: pair.hr.shape[0] // 2 * 2, : pair.hr.shape[1] // 2 * 2]
        frames = [hr] * (degrade.clip_frames[0] if chain.needs_clip else 1)
        out.append(Pair(pair.name, degrade_clip(frames, hr.shape, chain, rng)[-1], hr))
    return out


def _shifted_crops(hr: np.ndarray, size: int, frames: int, max_step: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`frames` size x size crops of `hr` moving by a constant random step (at most `max_step`
    pixels a frame on each axis, less where the image is too small): a camera pan."""
    height, width = hr.shape
    room_y, room_x = (height - size) // max(1, frames - 1), (width - size) // max(1, frames - 1)
    dy = int(rng.integers(-min(max_step, room_y), min(max_step, room_y) + 1))
    dx = int(rng.integers(-min(max_step, room_x), min(max_step, room_x) + 1))
    span_y, span_x = abs(dy) * (frames - 1), abs(dx) * (frames - 1)
    y0 = int(rng.integers(height - size - span_y + 1)) + (span_y if dy < 0 else 0)
    x0 = int(rng.integers(width - size - span_x + 1)) + (span_x if dx < 0 else 0)
    return [hr[y0 + j * dy : y0 + j * dy + size, x0 + j * dx : x0 + j * dx + size] for j in range(frames)]


def _augment(plane: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    if flip:
        plane = plane[:, ::-1]
    return np.rot90(plane, turns)
