"""The restoration table's conditions on held-out training images, to choose between restoration
models without looking at Vid4 (never tune on bench/ or video/).

The held-out images are a training config's validation split (`[data] val_count`, the seed of
`[train]`): images the model never trained on. From each, a 5-frame pan (one LR pixel a frame) of
each crop of a grid is made with `vsr.degrade` in the conditions of `scripts/restore_table.py`: the
MATLAB bicubic downscale, then nothing (clean), libx264 CRF 25 or 35 (preset medium) over the
clip, or Gaussian noise of sigma 10 on the LR luma. The model upscales the middle frame; the table
is the mean Y-PSNR over the clips against that frame's HR crop (fp32, border = scale).

    python3 scripts/restore_validation.py --config configs/train/restore_x4.toml \\
        --models bicubic,restore,runs/restore_x4_grain/model.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vsr.degrade.chain import CLEAN, Chain, CodecPass, Noise, degrade_clip
from vsr.eval.metrics import psnr
from vsr.eval.protocol import list_images, load_pairs
from vsr.models import resolve
from vsr.train.config import load_config
from vsr.train.data import split_train_val
from vsr.train.loop import output_levels

REPO = Path(__file__).resolve().parents[1]
FRAMES = 5
CONDITIONS = {
    "clean": CLEAN,
    "crf25": Chain((), "matlab", CodecPass("libx264", crf=25, preset="medium")),
    "crf35": Chain((), "matlab", CodecPass("libx264", crf=35, preset="medium")),
    "noise10": Chain((), "matlab", None, lr_noise=Noise(sigma=10.0)),
}


def held_out_luma(config_path: Path) -> list[np.ndarray]:
    """The HR luma planes of the config's validation split."""
    cfg = load_config(str(config_path))
    paths = [p for d in cfg.data.train_dirs for p in list_images((REPO / d).resolve())]
    _, val_paths = split_train_val(paths, cfg.data.val_count, cfg.train.seed)
    return [pair.hr for pair in load_pairs(val_paths, 1)]


def pan_clips(hr: np.ndarray, scale: int, lr_size: int) -> list[list[np.ndarray]]:
    """Clips of FRAMES HR crops of lr_size * scale pixels, moving one LR pixel a frame, on a grid
    of non-overlapping places that covers the image."""
    size, pan = lr_size * scale, (FRAMES - 1) * scale
    height, width = hr.shape
    return [[np.ascontiguousarray(hr[top : top + size, left + i * scale : left + i * scale + size]) for i in range(FRAMES)]
            for top in range(0, height - size + 1, size) for left in range(0, width - size - pan + 1, size + pan)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="training config whose validation split to use")
    parser.add_argument("--models", required=True, help="comma-separated model names or .pt files")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--lr-size", type=int, default=64, help="side of the LR crop (pixels, even)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    args = parser.parse_args()
    conditions = args.conditions.split(",")
    images = held_out_luma(args.config)
    rng = np.random.default_rng(0)
    inputs = {c: [] for c in conditions}
    targets = []
    for clip in (clip for hr in images for clip in pan_clips(hr, args.scale, args.lr_size)):
        targets.append(clip[FRAMES // 2])
        for c in conditions:
            inputs[c].append(degrade_clip(clip, (args.lr_size, args.lr_size), CONDITIONS[c], rng)[FRAMES // 2])
    print(f"{len(targets)} clips of {args.lr_size}x{args.lr_size} LR pixels from the {len(images)} held-out images "
          f"of {args.config}, x{args.scale}")
    print("| model | " + " | ".join(conditions) + " |")
    print("|---|" + "---|" * len(conditions))
    for name in args.models.split(","):
        model = resolve(name, args.scale)
        row = []
        for c in conditions:
            scores = [psnr(output_levels(model.module, lr), hr, border=args.scale)
                      for lr, hr in zip(inputs[c], targets)]
            row.append(f"{np.mean(scores):.2f}")
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
