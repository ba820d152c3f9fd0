"""Tiny deterministic torch modules for engine tests, their known answers in numpy, and a tiny weight file."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

import vsr
from vsr.models import build, checkpoint_dict, save_checkpoint


class Nearest(torch.nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


class TinyConv(torch.nn.Module):
    """A deterministic little sub-pixel network: 3x3 conv to scale² channels, pixel shuffle, + nearest skip."""

    def __init__(self, scale: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.conv = torch.nn.Conv2d(1, scale * scale, 3, padding=1)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.conv.weight.copy_(0.1 * torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.zero_()
        self.shuffle = torch.nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x)) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


class NeighbourShuffle(torch.nn.Module):
    """x2 without arithmetic: output pixel (2i+a, 2j+b) is input pixel (i+a, j+b), 0 beyond the
    edge (four shifted copies, pixel-shuffled). Exact in any precision, batch layout or device
    for 8-bit samples (and 10-bit in fp32), so batched and single results must agree bit for bit
    and equal `neighbour_shuffle`. Frames mixed up inside a batch would show."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (0, 1, 0, 1))
        shifted = [padded[..., a : a + h, b : b + w] for a, b in ((0, 0), (0, 1), (1, 0), (1, 1))]
        return F.pixel_shuffle(torch.cat(shifted, dim=1), 2)


def neighbour_shuffle(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    padded = np.zeros((h + 1, w + 1), plane.dtype)
    padded[:h, :w] = plane
    out = np.empty((2 * h, 2 * w), plane.dtype)
    for a in (0, 1):
        for b in (0, 1):
            out[a::2, b::2] = padded[a : a + h, b : b + w]
    return out


def lumas(count: int, height: int, width: int, max_value: int = 255, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if max_value <= 255 else np.uint16
    return [rng.integers(0, max_value + 1, (height, width)).astype(dtype) for _ in range(count)]


def repeat(plane: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(plane, scale, axis=0), scale, axis=1)


def sr_model(module: torch.nn.Module, scale: int = 2, name: str = "tiny", supports_half: bool = False) -> vsr.SRModel:
    """Wrap a module as a learned, single-frame SRModel: the pipeline runs it in a torch engine."""
    return vsr.SRModel(name=name, scale=scale, module=module.eval(), supports_half=supports_half, config=None)


def panned_lumas(count: int, height: int = 24, width: int = 32, step: int = 1, seed: int = 1) -> list[np.ndarray]:
    """`count` 8-bit crops of one smooth random texture, each `step` pixels right of the one before."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.normal(128, 50, (height + 8, width + step * count)).astype(np.float32), (0, 0), 1.2)
    return [np.clip(texture[4:4 + height, step * i:step * i + width], 0, 255).astype(np.uint8) for i in range(count)]


def random_module(arch: str, scale: int, hparams: dict, seed: int = 0) -> torch.nn.Module:
    """`arch` built with `hparams`, every weight drawn from N(0, 0.05²) with `seed`."""
    module = build(arch, scale, hparams)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
    return module.eval()


def write_weight_file(path, scale: int = 2, seed: int = 0, arch: str = "residual", frames: int | None = None):
    """A small checkpoint of the residual body (`arch`: residual, or restore or stream, which also
    have x1; or multiframe with a window of `frames`) at `path`, as `vsr train` writes them; returns the path."""
    hparams = {"channels": 8, "blocks": 1, "res_scale": 1.0, **({"frames": frames} if frames else {})}
    module = random_module(arch, scale, hparams, seed)
    ckpt = checkpoint_dict(module, arch=arch, hparams=hparams, scale=scale, supports_half=False, config=None)
    return save_checkpoint(path, ckpt)
