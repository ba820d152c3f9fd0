"""The benchmark protocol: how HR images become LR/HR pairs, for evaluation and for training.

An HR image is cropped to a multiple of the scale ("mod crop"), the LR image is its MATLAB-style
antialiased bicubic downscale (the "BI" degradation, `vsr.resample.matlab.imresize`), and scores
and training targets are the BT.601 luma (Y) in 8-bit studio-range levels, the space the models
work in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsr.errors import InputError
from vsr.eval.metrics import rgb_to_y
from vsr.media.images import IMAGE_SUFFIXES
from vsr.resample.matlab import imresize, to_uint8

__all__ = ["Pair", "degrade_rgb", "image_files", "list_images", "load_pairs", "mod_crop", "read_rgb", "y_pair"]


def image_files(folder: Path) -> list[Path]:
    """The image files (IMAGE_SUFFIXES, any case) directly inside an existing `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside `folder`, sorted by name. Raises InputError if none."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    files = image_files(folder)
    if not files:
        try:
            inner = sorted(p.name for p in folder.iterdir() if p.is_dir() and image_files(p))
        except OSError:  # an unreadable sub-folder: no hint rather than a traceback
            inner = []
        shown = ", ".join(inner[:5]) + (f" and {len(inner) - 5} more" if len(inner) > 5 else "")
        hint = f"; its folder(s) {shown} hold some: name one" if inner else ""
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}{hint}")
    return files


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """(H, W, 3) uint8 RGB. Grayscale files come back with three equal channels. Raises InputError."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"cannot read image {path}")
    return np.ascontiguousarray(img[:, :, ::-1])


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of `scale`."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def degrade_rgb(hr_rgb: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark protocol's LR image: MATLAB bicubic downscale of a mod-cropped HR, as uint8.
    Raises ValueError if the HR size is not a multiple of `scale`."""
    if hr_rgb.shape[0] % scale or hr_rgb.shape[1] % scale:
        raise ValueError(f"HR size {hr_rgb.shape[:2]} is not a multiple of scale {scale}")
    return to_uint8(imresize(hr_rgb, 1.0 / scale))


def y_pair(hr_rgb: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(lr_y, hr_y) as uint8 8-bit luma levels for training: HR mod-cropped, LR downscaled from HR luma.

    Downscaling the luma plane is the same linear operation as downscaling RGB and
    taking the luma (up to rounding), at a third of the cost.
    """
    hr_y = rgb_to_y(mod_crop(hr_rgb, scale))
    lr_y = imresize(hr_y, 1.0 / scale)
    return to_uint8(lr_y), to_uint8(hr_y)


@dataclass(frozen=True)
class Pair:
    """An LR input and its HR target, named after the image they came from."""

    name: str
    lr: np.ndarray  # (h, w) uint8 luma, or a multi-frame model's (C, h, w) float32 input in [0, 1]
    hr: np.ndarray  # (scale*h, scale*w) uint8 luma


def load_pairs(paths: Sequence[Path], scale: int) -> list[Pair]:
    """One luma `Pair` per image file (`y_pair`), named after the file. Raises InputError."""
    pairs = []
    for p in paths:
        lr, hr = y_pair(read_rgb(p), scale)
        pairs.append(Pair(p.name, lr, hr))
    return pairs
