"""Where the models run and in what precision: one place for device and dtype choices."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from vsr.errors import ConfigError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
"""Torch dtype of each explicit precision."""
EXPLICIT_PRECISIONS = tuple(DTYPES)
"""The precisions a model can be asked to run in ("auto" is the engines' choice, not a precision)."""


def choose_device(device: str) -> torch.device:
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively. On x86 that takes AVX512-BF16 or AMX: oneDNN
    also runs bf16 on plain AVX-512 by emulation, which ran `espcn` x4 at 540p 2.9x slower than fp32."""
    try:
        if torch.backends.cpu.get_cpu_capability().startswith("AVX"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_precision(precision: str, device: torch.device, supports_half: bool) -> str:
    """fp16 on CUDA and bf16 on CPUs with native bf16, where the model is declared half-safe; else fp32."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if not supports_half:
            return "fp32"
        if device.type == "cuda":
            return "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision != "fp32" and not supports_half:
        raise ConfigError(f"this model is not declared safe in half precision; use --precision fp32 (asked: {precision})")
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("fp16 is not a fast path on the CPU; use --precision bf16 or fp32")
    return precision


def cudnn_settings(precision: str, *, benchmark: bool = True) -> AbstractContextManager[None]:
    """cuDNN's settings for a forward pass in `precision`. "fp32" is asked for exactness: no TF32
    convolutions, which round like fp16 and make the output depend on the batch size (cuDNN picks
    kernels per shape). A no-op off CUDA."""
    return torch.backends.cudnn.flags(enabled=True, benchmark=benchmark, deterministic=False,
                                      allow_tf32=precision != "fp32")


def named_device(device: str | torch.device | None) -> torch.device:
    """The device asked for ("cpu", "cuda", "cuda:1"; None: CUDA when available); ConfigError for
    one that does not exist here."""
    if device is None:
        return choose_device("auto")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        chosen = None
    if chosen is None or chosen.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N")
    choose_device(chosen.type)  # "--device cuda was asked for but no CUDA device is available"
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0 …")
    return chosen
