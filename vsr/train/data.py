"""Training data from LR/HR luma pairs (`vsr.eval.protocol`): the validation hold-out, centre
crops, and random augmented patches as float32 tensors in [0, 1] (8-bit levels / 255)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vsr.errors import InputError
from vsr.eval.protocol import Pair
from vsr.models.ensemble import orient, orient_phases

log = logging.getLogger(__name__)


def split_train_val(paths: Sequence[Path], val_count: int, seed: int) -> tuple[list[Path], list[Path]]:
    """A fixed, seeded hold-out of `val_count` images; the rest are for training."""
    if val_count >= len(paths):
        raise InputError(f"val_count {val_count} leaves no training images (found {len(paths)})")
    g = torch.Generator().manual_seed(seed + 7919)
    order = torch.randperm(len(paths), generator=g).tolist()
    val_idx = set(order[:val_count])
    train = [p for i, p in enumerate(paths) if i not in val_idx]
    val = [p for i, p in enumerate(paths) if i in val_idx]
    return train, val


def centre_crop(pair: Pair, hr_size: int, scale: int) -> Pair:
    """A centred crop of at most hr_size x hr_size HR pixels (a multiple of scale), aligned with LR."""
    if hr_size <= 0:
        return pair
    lh, lw = pair.lr.shape[-2:]
    ch, cw = min(lh, hr_size // scale), min(lw, hr_size // scale)
    y0, x0 = (lh - ch) // 2, (lw - cw) // 2
    return Pair(pair.name, pair.lr[..., y0 : y0 + ch, x0 : x0 + cw],
                pair.hr[scale * y0 : scale * (y0 + ch), scale * x0 : scale * (x0 + cw)])


class PatchSampler:
    """Random aligned LR/HR patches with flips, 90-degree rotations and optional jitter.

    Images are drawn with probability proportional to the number of patch positions
    they hold, so every training pixel is about equally likely. All randomness comes
    from `generator` (a torch.Generator), whose state is saved in checkpoints.
    `hr_phases`: the last that many LR channels are an HR image's s² sub-pixel phases (a refine
    model's classical result); they are flipped and turned as that image, not phase by phase.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        *,
        scale: int,
        patch_size: int,
        batch_size: int,
        flips: bool = True,
        rot90: bool = True,
        jitter: float = 0.0,
        hr_phases: int = 0,
    ) -> None:
        usable = [p for p in pairs if min(p.lr.shape[-2:]) >= patch_size]
        if len(usable) < len(pairs):
            log.info("%d of %d training images are smaller than the %d px LR patch and are skipped",
                     len(pairs) - len(usable), len(pairs), patch_size)
        if not usable:
            raise InputError(f"no training image is at least {patch_size * scale} px on each side")
        self.pairs = usable
        self.scale, self.patch, self.batch = scale, patch_size, batch_size
        self.flips, self.rot90, self.jitter = flips, rot90, jitter
        self.hr_phases = hr_phases
        positions = torch.tensor(
            [(p.lr.shape[-2] - patch_size + 1) * (p.lr.shape[-1] - patch_size + 1) for p in usable], dtype=torch.float64
        )
        self.weights = positions / positions.sum()
        self.channels = usable[0].lr.shape[:-2] or (1,)
        self.lr_divisor = 255.0 if usable[0].lr.dtype == np.uint8 else 1.0

    def sample(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(lr, hr): float32 tensors (B, C, P, P) and (B, 1, sP, sP) in [0, 1] (C = 1 for luma pairs)."""
        b, p, s = self.batch, self.patch, self.scale
        idx = torch.multinomial(self.weights, b, replacement=True, generator=generator).tolist()
        u = torch.rand(b, 6, generator=generator, dtype=torch.float64).numpy()
        lrs = np.empty((b, *self.channels, p, p), np.float32)
        hrs = np.empty((b, s * p, s * p), np.float32)
        for k, i in enumerate(idx):
            pair = self.pairs[i]
            h, w = pair.lr.shape[-2:]
            y = int(u[k, 0] * (h - p + 1))
            x = int(u[k, 1] * (w - p + 1))
            lr = pair.lr[..., y : y + p, x : x + p]
            hr = pair.hr[s * y : s * (y + p), s * x : s * (x + p)]
            flip, turns = self.flips and u[k, 2] < 0.5, int(u[k, 3] * 4) if self.rot90 else 0
            turns = -turns % 4 if flip else turns  # mirrored, then turned: `orient` turns first
            lrs[k] = self._orient_lr(lr, turns, flip)
            hrs[k] = orient(hr, turns, flip)
        lr_t = torch.from_numpy(lrs).reshape(b, -1, p, p).div_(self.lr_divisor)
        hr_t = torch.from_numpy(hrs).unsqueeze(1).div_(255.0)
        if self.jitter > 0:
            # brightness/contrast: linear in the pixel values, so it commutes with the downscale
            c = 1.0 + self.jitter * (2.0 * torch.from_numpy(u[:, 4]).float() - 1.0)
            off = self.jitter * (2.0 * torch.from_numpy(u[:, 5]).float() - 1.0) * 0.5
            mean = lr_t.mean(dim=(1, 2, 3))
            a = c.view(-1, 1, 1, 1)
            bias = (mean * (1.0 - c) + off).view(-1, 1, 1, 1)
            lr_t = lr_t * a + bias
            hr_t = hr_t * a + bias
        return lr_t, hr_t

    def _orient_lr(self, lr: np.ndarray, turns: int, flip: bool) -> np.ndarray:
        if not self.hr_phases:
            return orient(lr, turns, flip)
        phases = orient_phases(torch.from_numpy(np.ascontiguousarray(lr[-self.hr_phases:])), self.scale, turns, flip)
        return np.concatenate([orient(lr[: -self.hr_phases], turns, flip), phases.numpy()])
