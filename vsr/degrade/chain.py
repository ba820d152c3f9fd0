"""The degradation chain: one random draw of steps (`sample_chain`), applied alike to every frame
of a short clip (`degrade_clip`).

A draw is clean (the benchmark's bicubic downscale only) with `clean_prob`; otherwise a first
stage (blur, resize, noise, sometimes JPEG), a second stage with `second_prob`, a resize to the
LR size, and last a codec pass (a pseudo-clip of 3 or more shifted frames through libx264,
MPEG-2 or MPEG-4, so P- and B-frame artefacts appear), a JPEG or neither. A stage's steps run in
a random order with `shuffle_prob` (BSRGAN's shuffle). Noise is drawn anew for every frame; the
blur kernel, resize factors and qualities are the clip's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vsr.degrade.config import RESIZE_MODES, DegradeConfig
from vsr.degrade.ops import blur, gaussian_kernel, gaussian_noise, jpeg, poisson_noise, resize, to_levels
from vsr.media.codec_pass import codec_round_trip


@dataclass(frozen=True)
class Blur:
    kernel: np.ndarray = field(repr=False)
    sigmas: tuple[float, float]

    def apply(self, plane: np.ndarray, rng: np.random.Generator, lr_size: tuple[int, int]) -> np.ndarray:
        return blur(plane, self.kernel)


@dataclass(frozen=True)
class Resize:
    factor: float
    mode: str
    of_lr: bool = False  # the factor is relative to the LR size, not to the current one

    def apply(self, plane: np.ndarray, rng: np.random.Generator, lr_size: tuple[int, int]) -> np.ndarray:
        base = lr_size if self.of_lr else plane.shape
        height, width = (max(2, round(n * self.factor)) for n in base)
        return resize(plane, (height, width), self.mode)


@dataclass(frozen=True)
class Noise:
    sigma: float = 0.0  # Gaussian, levels
    poisson_scale: float = 0.0  # Poisson instead when above 0

    def apply(self, plane: np.ndarray, rng: np.random.Generator, lr_size: tuple[int, int]) -> np.ndarray:
        if self.poisson_scale > 0:
            return poisson_noise(plane, self.poisson_scale, rng)
        return gaussian_noise(plane, self.sigma, rng)


@dataclass(frozen=True)
class Jpeg:
    quality: int

    def apply(self, plane: np.ndarray, rng: np.random.Generator, lr_size: tuple[int, int]) -> np.ndarray:
        return jpeg(plane, self.quality)


@dataclass(frozen=True)
class CodecPass:
    codec: str
    crf: int | None = None
    bits_per_pixel: float | None = None
    preset: str | None = None


Step = Blur | Resize | Noise | Jpeg


@dataclass(frozen=True)
class Chain:
    """One draw: the steps before the resize to the LR size, that resize's mode, noise at the LR
    size, and the last step."""

    steps: tuple[Step, ...]
    final_mode: str
    last: Jpeg | CodecPass | None
    clean: bool = False
    lr_noise: Noise | None = None

    @property
    def needs_clip(self) -> bool:
        """A codec pass needs several frames."""
        return isinstance(self.last, CodecPass)


CLEAN = Chain(steps=(), final_mode="matlab", last=None, clean=True)


def sample_chain(config: DegradeConfig, rng: np.random.Generator) -> Chain:
    """A random chain drawn from `config`'s probabilities and ranges."""
    if rng.random() < config.clean_prob:
        return CLEAN
    steps = _stage(config, rng, config.blur_prob, config.blur_sigma, config.resize_range, config.noise_sigma, of_lr=False)
    if rng.random() < config.jpeg_prob:
        steps.append(Jpeg(_int_in(rng, config.jpeg_quality)))
    if rng.random() < config.second_prob:
        steps += _stage(config, rng, config.blur_prob, config.blur2_sigma, config.resize2_range, config.noise2_sigma,
                        of_lr=config.second_at_lr)
    final_mode = config.final_resize_modes[rng.integers(len(config.final_resize_modes))]
    last: Jpeg | CodecPass | None = None
    pick = rng.random()
    if pick < config.codec_prob:
        last = _codec_pass(config, rng)
    elif pick < config.codec_prob + config.final_jpeg_prob:
        last = Jpeg(_int_in(rng, config.jpeg_quality))
    lr_noise = None
    if config.final_noise_prob and rng.random() < config.final_noise_prob:  # no draw at 0: older configs' chains stay
        lr_noise = _noise(config, rng, config.final_noise_sigma)
    return Chain(tuple(steps), final_mode, last, lr_noise=lr_noise)


def degrade_clip(hr_frames: Sequence[np.ndarray], lr_size: tuple[int, int], chain: Chain,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Degrade (H, W) uint8 luma frames to `lr_size` = (h, w) uint8 frames with `chain`.
    A codec pass needs h and w even (ConfigError otherwise)."""
    planes = []
    for frame in hr_frames:
        plane = frame.astype(np.float32)
        for step in chain.steps:
            plane = step.apply(plane, rng, lr_size)
        plane = resize(plane, lr_size, chain.final_mode)
        if chain.lr_noise is not None:
            plane = chain.lr_noise.apply(plane, rng, lr_size)
        if isinstance(chain.last, Jpeg):
            plane = chain.last.apply(plane, rng, lr_size)
        planes.append(to_levels(plane))
    if isinstance(chain.last, CodecPass):
        planes = _run_codec_pass(planes, chain.last)
    return planes


def _stage(config: DegradeConfig, rng: np.random.Generator, blur_prob: float, sigma_range: tuple[float, float],
           resize_range: tuple[float, float], noise_range: tuple[float, float], *, of_lr: bool) -> list[Step]:
    """Blur, resize and noise, each drawn. `of_lr`: the resize is to the LR size times a factor in
    `resize_range` and always happens; else a factor of the current size, up, down or none."""
    steps: list[Step] = []
    if rng.random() < blur_prob:
        steps.append(_blur(config, rng, sigma_range))
    direction = 1 if of_lr else rng.choice(3, p=np.asarray(config.resize_probs) / sum(config.resize_probs))
    if direction != 2:
        low, high = resize_range
        if of_lr:
            factor = rng.uniform(low, high)
        else:
            factor = rng.uniform(1.0, max(1.0, high)) if direction == 0 else rng.uniform(min(1.0, low), 1.0)
        steps.append(Resize(float(factor), RESIZE_MODES[rng.integers(len(RESIZE_MODES))], of_lr))
    if rng.random() < config.noise_prob:
        steps.append(_noise(config, rng, noise_range))
    if rng.random() < config.shuffle_prob:
        steps = [steps[i] for i in rng.permutation(len(steps))]
    return steps


def _noise(config: DegradeConfig, rng: np.random.Generator, sigma_range: tuple[float, float]) -> Noise:
    if rng.random() < config.poisson_prob:
        return Noise(poisson_scale=float(rng.uniform(*config.poisson_scale)))
    return Noise(sigma=float(rng.uniform(*sigma_range)))


def _blur(config: DegradeConfig, rng: np.random.Generator, sigma_range: tuple[float, float]) -> Blur:
    sigma_x = float(rng.uniform(*sigma_range))
    sigma_y, theta = sigma_x, 0.0
    if rng.random() < config.anisotropic_prob:
        sigma_y, theta = float(rng.uniform(*sigma_range)), float(rng.uniform(0.0, math.pi))
    return Blur(gaussian_kernel(sigma_x, sigma_y, theta), (sigma_x, sigma_y))


def _codec_pass(config: DegradeConfig, rng: np.random.Generator) -> CodecPass:
    weights = np.asarray(config.codec_weights, dtype=np.float64)
    codec = config.codecs[rng.choice(len(config.codecs), p=weights / weights.sum())]
    if codec == "libx264":
        preset = config.x264_presets[rng.integers(len(config.x264_presets))]
        return CodecPass(codec, crf=_int_in(rng, config.x264_crf), preset=preset)
    return CodecPass(codec, bits_per_pixel=float(rng.uniform(*config.bits_per_pixel)))


def _run_codec_pass(planes: list[np.ndarray], step: CodecPass) -> list[np.ndarray]:
    bitrate = None
    if step.bits_per_pixel is not None:
        height, width = planes[0].shape
        bitrate = max(1000, round(step.bits_per_pixel * height * width * 25))
    return codec_round_trip(planes, step.codec, crf=step.crf, bitrate=bitrate, preset=step.preset)


def _int_in(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))
