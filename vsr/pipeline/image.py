"""Still images (PNG/JPEG/BMP/TIFF/WebP): luma through the model at full chroma resolution.

The image is read with OpenCV, turned into BT.601 YCbCr with the 16–235 luma range the models are
trained on, its Y upscaled by the model, Cb/Cr (and alpha) by bicubic, and written back as RGB.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vsr.errors import InputError, OutputError
from vsr.models import SRModel
from vsr.pipeline.result import UpscaleResult
from vsr.media import mux
from vsr.media.images import IMAGE_SUFFIXES
from vsr.device import choose_device

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


def upscale_luma_float(model: SRModel, y: np.ndarray, device: str) -> np.ndarray:
    """One float32 (H, W) luma plane in [0, 1] through the model, in fp32."""
    torch_device = choose_device(device)
    module = model.module.to(torch_device).eval()
    with torch.inference_mode():
        out = module(torch.from_numpy(np.ascontiguousarray(y))[None, None].to(torch_device))
    return out[0, 0].float().cpu().numpy()


def upscale_image(
    source: Path,
    target: Path,
    *,
    scale: int,
    model: str | SRModel | None,
    device: str = "auto",
    overwrite: bool = False,
):
    """Upscale one still image; 8- and 16-bit, grey, colour and alpha are kept as they are."""
    from vsr.pipeline.run import resolve_model

    sr_model = resolve_model(model, scale)
    if not source.is_file():
        raise InputError(f"input file not found: {source}")
    if target.suffix.lower() != source.suffix.lower() and target.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"an image can only be written as an image; {target.name!r} has no image extension")
    mux.check_output_path(source, target, overwrite)
    image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{source} is not an image OpenCV can read")
    started = time.perf_counter()
    peak = float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
    pixels = image.astype(np.float32) / peak
    if pixels.ndim == 2:
        result = upscale_luma_float(sr_model, pixels, device)
    else:
        colour, alpha = pixels[..., :3], pixels[..., 3:]
        ycc = rgb_to_ycbcr(colour[..., ::-1])
        y = upscale_luma_float(sr_model, ycc[..., 0], device)
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
    return UpscaleResult(target, 1, time.perf_counter() - started, sr_model.name, str(choose_device(device)), "fp32", width, height)
