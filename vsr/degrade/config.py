"""The `[degrade]` table of a training config: the probabilities and ranges the degradation
chain draws from. The defaults follow Real-ESRGAN's and RealBasicVSR's option files, narrowed
to what old video really shows (their ranges are tuned for a GAN on photographs)."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

from vsr.errors import ConfigError
from vsr.media.codec_pass import DECODERS
from vsr.media.encode import CRF_RANGES, X26X_PRESETS
from vsr.tomlfile import KIND_NAMES, is_kind

RESIZE_MODES = ("area", "bilinear", "bicubic")
FINAL_RESIZE_MODES = ("matlab", *RESIZE_MODES)


@dataclass(frozen=True)
class DegradeConfig:
    """Every range is [low, high], drawn uniformly; sigmas and noise are in 8-bit levels, blur
    sigmas in HR pixels, resize factors relative to the current size, shifts in LR pixels."""

    clean_prob: float = 0.25  # plain MATLAB bicubic, the benchmark protocol: clean quality holds
    shuffle_prob: float = 0.3  # a stage's blur / resize / noise in a random order
    # first stage
    blur_prob: float = 0.6
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    anisotropic_prob: float = 0.3
    resize_probs: tuple[float, float, float] = (0.2, 0.5, 0.3)  # up, down, keep
    resize_range: tuple[float, float] = (0.5, 1.5)
    noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 25.0)
    poisson_prob: float = 0.3  # the share of noisy samples whose noise is Poisson (shot noise)
    poisson_scale: tuple[float, float] = (0.05, 2.5)
    jpeg_prob: float = 0.2
    # second stage (applied with second_prob)
    second_prob: float = 0.4
    second_at_lr: bool = False  # its resize relative to the LR size (Real-ESRGAN's), so its noise is at LR scale
    blur2_sigma: tuple[float, float] = (0.2, 1.5)
    resize2_range: tuple[float, float] = (0.7, 1.2)
    noise2_sigma: tuple[float, float] = (1.0, 15.0)
    # the last step, after the resize to the LR size: a codec pass, a JPEG, or neither
    final_resize_modes: tuple[str, ...] = FINAL_RESIZE_MODES  # the resize to the LR size, one drawn
    # noise at the LR size after that resize, before the codec or JPEG: grain of the footage itself
    # (camera, tape, film scan), not averaged away by any resize; Poisson for `poisson_prob` of them
    final_noise_prob: float = 0.0
    final_noise_sigma: tuple[float, float] = (1.0, 20.0)
    codec_prob: float = 0.5
    final_jpeg_prob: float = 0.2
    jpeg_quality: tuple[int, int] = (30, 95)
    codecs: tuple[str, ...] = ("libx264", "mpeg2video", "mpeg4")
    codec_weights: tuple[float, ...] = (0.6, 0.2, 0.2)
    x264_crf: tuple[int, int] = (15, 40)
    x264_presets: tuple[str, ...] = ("ultrafast", "veryfast", "medium")
    bits_per_pixel: tuple[float, float] = (0.05, 0.4)  # MPEG-2 / MPEG-4 rate, per pixel per frame
    clip_frames: tuple[int, int] = (3, 5)  # pseudo-clip length of a codec pass
    clip_shift: float = 1.5  # the largest motion between its frames, LR pixels
    margin: int = 0  # LR pixels of picture degraded around each patch and cut off after (codecs see more)

    def check(self) -> DegradeConfig:
        """Return self; ConfigError naming the first bad value."""
        self._check_types()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_prob") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"[degrade] {f.name} must be in [0, 1], got {value}")
            if isinstance(value, tuple) and f.name not in ("codecs", "x264_presets", "codec_weights", "resize_probs",
                                                            "final_resize_modes"):
                if len(value) != 2 or not value[0] <= value[1] or value[0] < 0:
                    raise ConfigError(f"[degrade] {f.name} must be [low, high] with 0 <= low <= high, got {list(value)}")
        unknown = [c for c in self.codecs if c not in DECODERS]
        if unknown or not self.codecs:
            raise ConfigError(f"[degrade] codecs must be some of {', '.join(DECODERS)}, got {list(self.codecs)}")
        if not self.final_resize_modes or not set(self.final_resize_modes) <= set(FINAL_RESIZE_MODES):
            raise ConfigError(f"[degrade] final_resize_modes must be some of {', '.join(FINAL_RESIZE_MODES)}, "
                              f"got {list(self.final_resize_modes)}")
        if len(self.codec_weights) != len(self.codecs) or min(self.codec_weights) < 0 or sum(self.codec_weights) <= 0:
            raise ConfigError("[degrade] codec_weights must give one non-negative weight per codec")
        if len(self.resize_probs) != 3 or min(self.resize_probs) < 0 or sum(self.resize_probs) <= 0:
            raise ConfigError("[degrade] resize_probs must be three non-negative weights (up, down, keep)")
        if self.clip_frames[0] < 3:
            raise ConfigError("[degrade] clip_frames must start at 3 or more (P- and B-frames need neighbours)")
        if self.resize_range[0] <= 0 or self.resize2_range[0] <= 0:
            raise ConfigError("[degrade] resize ranges must be above 0")
        for name, off in (("blur_sigma", "blur_prob = 0"), ("blur2_sigma", "second_prob = 0 (the whole second stage)")):
            if getattr(self, name)[0] <= 0:  # a 0 sigma made a kernel of NaN: every input black
                raise ConfigError(f"[degrade] {name} must be above 0, got {list(getattr(self, name))}; "
                                  f"to leave the blur out, set {off}")
        if not math.isfinite(self.clip_shift) or self.clip_shift < 0:  # failed mid-training as "low >= high"
            raise ConfigError(f"[degrade] clip_shift must be a number of LR pixels >= 0, got {self.clip_shift}")
        if self.margin < 0 or self.margin % 2:
            raise ConfigError(f"[degrade] margin must be an even number >= 0, got {self.margin}")
        if self.codec_prob + self.final_jpeg_prob > 1.0:
            raise ConfigError("[degrade] codec_prob + final_jpeg_prob must be at most 1")
        if not self.x264_presets or not set(self.x264_presets) <= set(X26X_PRESETS):
            raise ConfigError(f"[degrade] x264_presets must be some of {', '.join(X26X_PRESETS)}, got {list(self.x264_presets)}")
        low, high = CRF_RANGES["libx264"]
        if not low <= self.x264_crf[0] <= self.x264_crf[1] <= high:
            raise ConfigError(f"[degrade] x264_crf must be within libx264's {low}..{high}, got {list(self.x264_crf)}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ConfigError(f"[degrade] jpeg_quality must be within 1..100, got {list(self.jpeg_quality)}")
        return self

    def _check_types(self) -> None:
        """ConfigError for a value, or an element of a list, of the wrong type (a drawn value that is
        a string failed mid-training, as a TypeError naming no key)."""
        for name, hint in typing.get_type_hints(type(self)).items():
            value = getattr(self, name)
            listed = typing.get_origin(hint) is tuple
            kind = typing.get_args(hint)[0] if listed else hint  # every list here holds one kind
            elements = value if listed and isinstance(value, tuple) else (value,)
            if listed != isinstance(value, tuple) or not all(is_kind(element, kind) for element in elements):
                shown = list(value) if isinstance(value, tuple) else repr(value)
                raise ConfigError(f"[degrade] {name} must be {'a list of ' if listed else ''}{KIND_NAMES[kind][listed]}, got {shown}")
