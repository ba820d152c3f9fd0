"""Training windows for the learned multi-frame fusion: aligned LR stacks and their HR reference.

Two sources, never `bench/` or `video/`:
- synthetic sequences: an HR training image moved by a known random camera motion (a constant
  sub-pixel velocity with per-frame jitter, a small rotation and zoom), each frame downscaled
  with the BI protocol and rounded to 8 bits as a video would be;
- real clips: consecutive frames of a video, first reduced by `clip_downscale` (which also
  hides its compression artefacts) to make the HR frames, then downscaled the same way.
Each window is aligned exactly as at inference (`vsr.engine.fusion.fusion_inputs`), so the network
learns to use the flow, confidences (and classical fusion) it will be given, errors included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vsr.degrade.chain import Chain, degrade_clip, sample_chain
from vsr.degrade.config import DegradeConfig
from vsr.engine.fusion import fusion_inputs
from vsr.errors import InputError
from vsr.eval.metrics import rgb_to_y
from vsr.eval.protocol import Pair, mod_crop, read_rgb
from vsr.media.decode import DecodeStats, read_items
from vsr.media.frames import Layout, VideoItem
from vsr.media.probe import frame_duration, probe
from vsr.misr import MultiFrameSettings, MultiFrameSR
from vsr.resample.matlab import imresize, to_uint8

log = logging.getLogger(__name__)


def window_lrs(hr_frames: Sequence[np.ndarray], scale: int, chain: Chain | None = None,
               rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """The LR frames of a window: the BI downscale rounded to 8 bits, or `chain` (vsr.degrade) over
    the window as one clip (a codec pass sees its frames in order; sizes then a multiple of 2·scale)."""
    if chain is None:
        return [to_uint8(imresize(f, 1.0 / scale)) for f in hr_frames]
    height, width = hr_frames[0].shape
    return degrade_clip(hr_frames, (height // scale, width // scale), chain, rng or np.random.default_rng(0))


def aligned_window(hr_frames: Sequence[np.ndarray], scale: int, engine: Any = None,
                   lrs: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, lr): the centre frame's network input (C, h, w) float32 in [0, 1] and its LR luma.

    hr_frames: 2k+1 uint8 HR luma planes in display order, sizes a multiple of `scale`.
    engine: a refine model's single-frame engine (`vsr.engine.fusion.fusion_inputs`).
    lrs: their LR frames (default: `window_lrs`, the BI downscale).
    """
    frames = len(hr_frames)
    fuser = MultiFrameSR(scale, MultiFrameSettings(frames=frames))
    lrs = lrs if lrs is not None else window_lrs(hr_frames, scale)
    for lr in lrs:
        fuser.push(lr)
    fuser.finish()
    centre = frames // 2
    return fusion_inputs(fuser, [centre], engine)[0].numpy(), lrs[centre]


def camera_motion(frames: int, motion: float, scale: int, centre: tuple[float, float],
                  rng: np.random.Generator) -> list[np.ndarray]:
    """One 2x3 affine matrix (HR pixels) per frame offset −k…k; the centre frame's is the identity.

    motion: the largest speed in LR pixels per frame.
    """
    k = frames // 2
    speed = motion * np.sqrt(rng.uniform()) * scale
    angle = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    spin = rng.uniform(-0.3, 0.3)  # degrees per frame
    zoom = rng.uniform(-0.004, 0.004)  # per frame
    matrices = []
    for d in range(-k, k + 1):
        if d == 0:
            matrices.append(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
            continue
        m = cv2.getRotationMatrix2D(centre, d * spin, 1.0 + d * zoom)
        m[:, 2] += d * velocity + rng.normal(0.0, 0.15 * scale, 2)
        matrices.append(m)
    return matrices


def add_moving_object(frames_hr: list[np.ndarray], source: np.ndarray, motion: float, scale: int,
                      rng: np.random.Generator) -> list[np.ndarray]:
    """Paste an elliptical piece of `source` that moves on its own across the frames (occlusions).

    frames_hr: the 2k+1 HR frames (uint8); the piece sits at a random place in the centre frame
    and moves up to 1.5x `motion` LR pixels per frame against the picture behind it.
    """
    h, w = frames_hr[0].shape
    k = len(frames_hr) // 2
    radius = rng.uniform(0.08, 0.2, 2) * min(h, w)
    centre = rng.uniform(0.2, 0.8, 2) * (w, h)
    origin = rng.uniform(0.2, 0.8, 2) * (w, h)  # where its texture comes from in `source`
    speed = 1.5 * motion * scale * np.sqrt(rng.uniform())
    angle = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    mask0 = np.zeros((h, w), np.float32)
    cv2.ellipse(mask0, (int(centre[0]), int(centre[1])), (int(radius[0]), int(radius[1])),
                float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    out = []
    for d, frame in zip(range(-k, k + 1), frames_hr):
        shift = d * velocity
        move = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        mask = cv2.warpAffine(mask0, move, (w, h), flags=cv2.INTER_LINEAR)
        texture_move = move + np.array([[0.0, 0.0, centre[0] - origin[0]], [0.0, 0.0, centre[1] - origin[1]]])
        texture = cv2.warpAffine(source, texture_move, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        out.append(np.clip(np.rint(frame * (1.0 - mask) + texture * mask), 0, 255).astype(np.uint8))
    return out


def synthetic_windows(paths: Sequence[Path], scale: int, frames: int, *, per_image: int, motion: float,
                      seed: int, objects: float = 0.0, engine: Any = None,
                      degrade: DegradeConfig | None = None) -> list[Pair]:
    """`per_image` windows of each HR image, each moved by its own random camera motion; with
    probability `objects`, a piece of the picture also moves on its own (`add_moving_object`).
    `degrade`: each window's LR frames come from a chain drawn from it (its own random stream, so
    the motions are those drawn without it)."""
    rng = np.random.default_rng(seed)
    damage = np.random.default_rng([seed, 1])
    multiple = scale if degrade is None else 2 * scale
    pairs = []
    for path in paths:
        hr = rgb_to_y(mod_crop(read_rgb(path), multiple))
        h, w = hr.shape
        if min(h, w) < 16 * scale:
            continue
        for copy in range(per_image):
            moved = [
                hr if not m[:, 2].any() and np.allclose(m[:, :2], np.eye(2)) else
                cv2.warpAffine(hr, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
                for m in camera_motion(frames, motion, scale, (w / 2, h / 2), rng)
            ]
            if objects > 0 and rng.uniform() < objects:
                moved = add_moving_object(moved, hr, motion, scale, rng)
            chain = sample_chain(degrade, damage) if degrade is not None else None
            inputs, _ = aligned_window(moved, scale, engine, window_lrs(moved, scale, chain, damage))
            pairs.append(Pair(f"{path.name}#{copy}", inputs, moved[frames // 2]))
    return pairs


CLIP_LAYOUT = Layout("yuv420p")


def _clip_lumas(path: Path) -> Iterator[np.ndarray]:
    """The luma plane of every frame of a video, in display order (uint8 copies).

    Damaged packets are skipped as in the pipeline (vsr.media.decode); InputError if the clip
    cannot be read at all.
    """
    try:
        info = probe(path)
        for item in read_items(path, CLIP_LAYOUT, [], DecodeStats(), frame_duration(info)):
            if isinstance(item, VideoItem):
                yield item.planes[0].copy()
    except InputError as exc:
        raise InputError(f"cannot read training clip {path}: {exc}") from exc


def clip_windows(paths: Sequence[str | os.PathLike[str]], scale: int, frames: int, *, count: int,
                 downscale: int, stride: int, engine: Any = None, degrade: DegradeConfig | None = None,
                 seed: int = 0) -> list[Pair]:
    """Up to `count` windows per clip, their centres `stride` frames apart from frame k onwards.

    Windows that straddle a scene cut are kept: the fusion has to handle cuts too, and the
    alignment gives the frames of the other shot zero confidence. `degrade`: as for
    `synthetic_windows` (the chains drawn from `seed`).
    """
    k = frames // 2
    damage = np.random.default_rng([seed, 2])
    multiple = scale if degrade is None else 2 * scale
    pairs = []
    for path in map(Path, paths):
        recent: list[np.ndarray] = []
        taken = 0
        for index, luma in enumerate(_clip_lumas(path)):
            small = to_uint8(imresize(luma, 1.0 / downscale)) if downscale > 1 else luma
            recent = [*recent[-(frames - 1):], mod_crop(small, multiple)]
            centre = index - k
            if len(recent) == frames and centre % stride == 0:
                chain = sample_chain(degrade, damage) if degrade is not None else None
                inputs, _ = aligned_window(recent, scale, engine, window_lrs(recent, scale, chain, damage))
                pairs.append(Pair(f"{path.name}@{centre}", inputs, recent[k]))
                taken += 1
                if taken == count:
                    break
        if taken == 0:
            raise InputError(f"training clip {path} has fewer than {frames} frames")
    return pairs
