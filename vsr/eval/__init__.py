"""Evaluation: metrics (pure functions) and the paper-protocol benchmark runner."""

from vsr.eval.metrics import psnr, rgb_to_y, ssim

__all__ = ["psnr", "ssim", "rgb_to_y"]
