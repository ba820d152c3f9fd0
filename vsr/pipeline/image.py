"""Still images (PNG/JPEG/BMP/TIFF/WebP): luma through the model at full chroma resolution.

The image is read with OpenCV, turned into BT.601 YCbCr with the 16–235 luma range the models are
trained on, its Y upscaled by the model, Cb/Cr (and alpha) by bicubic, and written back as RGB.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from vsr.device import choose_device
from vsr.errors import InputError, OutputError
from vsr.media import mux
from vsr.media.images import IMAGE_SUFFIXES
from vsr.models import SRModel, resolve
from vsr.pipeline.result import UpscaleResult

# RGB in [0, 1] → (Y, Cb, Cr) in [0, 1], BT.601 with Y in 16–235 and Cb/Cr in 16–240 (MATLAB rgb2ycbcr).
_RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=np.float32
) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float32) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR).astype(np.float32)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] → (H, W, 3) float YCbCr in [0, 1]."""
    return rgb @ _RGB_TO_YCBCR.T + _YCBCR_OFFSET


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    return (ycc - _YCBCR_OFFSET) @ _YCBCR_TO_RGB.T


def _resize(plane: np.ndarray, scale: int) -> np.ndarray:
    height, width = plane.shape[:2]
    return cv2.resize(plane, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)


def upscale_image(
    source: Path,
    target: Path,
    *,
    scale: int,
    model: str | os.PathLike[str] | SRModel | None,
    device: str = "auto",
    overwrite: bool = False,
) -> UpscaleResult:
    """Upscale one still image; 8- and 16-bit, grey, colour and alpha are kept as they are.

    model: as `vsr.models.resolve` takes it (None, a name, a weight file or an SRModel); the
    luma runs through it in fp32 on `device`. Raises InputError, OutputError or UnsupportedModelError.
    """
    sr_model = resolve(model, scale)
    if not source.is_file():
        raise InputError(f"input file not found: {source}")
    if target.suffix.lower() != source.suffix.lower() and target.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"an image can only be written as an image; {target.name!r} has no image extension")
    mux.check_output_path(source, target, overwrite)
    image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{source} is not an image OpenCV can read")
    started = time.perf_counter()
    torch_device = choose_device(device)
    peak = float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
    pixels = image.astype(np.float32) / peak
    if pixels.ndim == 2:
        result = sr_model.run_luma(pixels, max_value=1, device=torch_device)
    else:
        colour, alpha = pixels[..., :3], pixels[..., 3:]
        ycc = rgb_to_ycbcr(colour[..., ::-1])
        y = sr_model.run_luma(ycc[..., 0], max_value=1, device=torch_device)
        ycc_up = np.dstack([y, _resize(ycc[..., 1], scale), _resize(ycc[..., 2], scale)])
        result = ycbcr_to_rgb(ycc_up)[..., ::-1]
        if alpha.shape[-1]:
            result = np.dstack([result, _resize(alpha[..., 0], scale)])
    out = np.clip(np.rint(result * peak), 0, peak).astype(image.dtype) if image.dtype.kind == "u" else result
    temp = mux.temp_path_for(target)
    try:
        if not cv2.imwrite(str(temp), out):
            raise OutputError(f"could not write {target} (does OpenCV support {target.suffix} for this image?)")
        mux.commit_output(temp, target, overwrite)
    finally:
        mux.remove_quietly(temp)
    height, width = out.shape[:2]
    return UpscaleResult(target, 1, time.perf_counter() - started, sr_model.name, str(torch_device), "fp32", width, height)
