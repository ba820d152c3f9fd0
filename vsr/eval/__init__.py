"""Evaluation: metrics (pure functions), the benchmark protocol (HR images → LR/HR pairs), the
image benchmark runner (evaluate.py) and the multi-frame video comparison (video.py)."""

from vsr.eval.metrics import psnr, rgb_to_y, ssim

__all__ = ["psnr", "ssim", "rgb_to_y"]
