"""How `--denoise temporal`'s settings were chosen: held-out training images, never Vid4.

Each of the 10 held-out images of a training config (its validation split) is moved by two random
camera motions (up to 3 LR pixels a frame, a small rotation and zoom; half of them with a piece
moving on its own: `vsr.train.sequences`), 7 frames each; the frames are degraded as in
`scripts/restore_validation.py` (MATLAB bicubic x4, then clean, libx264 CRF 25/35, or luma noise
σ 5/10/20), the middle frame is denoised with its 6 neighbours (`vsr.misr.denoise`) and upscaled
by the model; the table is the mean Y-PSNR against its HR frame (border 8), with the noise level
measured on it.

    python3 scripts/temporal_denoise_tuning.py --settings "{}" "{'radius': 2}" "{'strength': 2.0}"
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import cv2
import numpy as np

from restore_validation import CONDITIONS, held_out_luma
from vsr.degrade.chain import Chain, Noise, degrade_clip
from vsr.eval.metrics import psnr
from vsr.misr.denoise import TemporalDenoiser, TemporalDenoiseSettings
from vsr.models import resolve
from vsr.train.loop import output_levels
from vsr.train.sequences import add_moving_object, camera_motion

RADIUS = 3
INPUT = "input"
"""As --model: the denoised frame itself (at --scale 1)."""
ALL_CONDITIONS = {
    **CONDITIONS,
    "noise5": Chain((), "matlab", None, lr_noise=Noise(sigma=5.0)),
    "noise20": Chain((), "matlab", None, lr_noise=Noise(sigma=20.0)),
}


def moving_windows(config: Path, scale: int, seed: int = 1, per_image: int = 2) -> list[list[np.ndarray]]:
    """2·RADIUS + 1 HR frames per window, the middle one the image itself."""
    rng = np.random.default_rng(seed)
    windows = []
    for hr in held_out_luma(config):
        height, width = (n - n % (2 * scale) for n in hr.shape)
        hr = np.ascontiguousarray(hr[:height, :width])
        for _ in range(per_image):
            moved = [cv2.warpAffine(hr, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
                     for m in camera_motion(2 * RADIUS + 1, 3.0, scale, (width / 2, height / 2), rng)]
            if rng.uniform() < 0.5:
                moved = add_moving_object(moved, hr, 3.0, scale, rng)
            windows.append(moved)
    return windows


def denoised_middle(frames: list[np.ndarray], settings: TemporalDenoiseSettings) -> tuple[np.ndarray, float]:
    denoiser = TemporalDenoiser(settings)
    for frame in frames:
        denoiser.push(frame)
    denoiser.finish()
    planes, sigma = denoiser.denoise(RADIUS, {i: [frames[i]] for i in denoiser.window(RADIUS)})
    return planes[0], sigma


def upscaled(model, plane: np.ndarray) -> np.ndarray:
    return plane if model is None else output_levels(model, plane)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/train/restore_x4.toml"))
    parser.add_argument("--model", default="restore", help=f"the model after the denoiser ({INPUT!r}: none, at --scale 1)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--conditions", default="clean,crf25,crf35,noise5,noise10,noise20")
    parser.add_argument("--settings", nargs="*", default=["{}"],
                        help="TemporalDenoiseSettings fields as Python dicts, one per candidate")
    args = parser.parse_args()
    scale = args.scale
    model = None if args.model == INPUT else resolve(args.model, scale).module
    windows = moving_windows(args.config, scale)
    rng = np.random.default_rng(5)
    candidates = {text: TemporalDenoiseSettings(**ast.literal_eval(text)) for text in args.settings}
    print(f"{len(windows)} windows of {2 * RADIUS + 1} frames from the held-out images of {args.config}, "
          f"x{scale} with {args.model}\n")
    print("| condition | none | " + " | ".join(f"`{c}`" for c in candidates) + " |")
    print("|---|---|" + "---|" * len(candidates))
    for condition in args.conditions.split(","):
        clips = [(w[RADIUS], degrade_clip(w, (w[0].shape[0] // scale, w[0].shape[1] // scale),
                                          ALL_CONDITIONS[condition], rng)) for w in windows]
        row = [np.mean([psnr(upscaled(model, lr[RADIUS]), hr, border=8) for hr, lr in clips])]
        sigmas = []
        for settings in candidates.values():
            scores = []
            for hr, lr in clips:
                plane, sigma = denoised_middle(lr, settings)
                scores.append(psnr(upscaled(model, plane), hr, border=8))
                sigmas.append(sigma)
            row.append(np.mean(scores))
        print(f"| {condition} (σ measured {np.mean(sigmas):.1f}) | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
