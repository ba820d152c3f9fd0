"""Self-describing checkpoint files: everything needed to rebuild the model, nothing to execute.

A checkpoint is `torch.save` of a plain dict, loadable with `torch.load(weights_only=True)`:
    {"format": 1, "arch": str, "hparams": dict, "scale": int, "supports_half": bool,
     "config": str | None, "state_dict": dict[str, Tensor], "metrics": dict, "weights_sha256": str}
and optionally "degradation": str, what the model was trained for when it is not its
architecture's default (see `vsr.models.registry.ArchSpec`). "weights_sha256" (files from before
it have none) lets a damaged file be told: torch reads a zip's tensors back unchecked.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.errors import InputError, UnsupportedModelError
from vsr.models.registry import build

FORMAT = 1


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively, so the dict holds only weights_only-safe types."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def checkpoint_dict(
    module: nn.Module,
    *,
    arch: str,
    hparams: dict[str, Any],
    scale: int,
    supports_half: bool,
    config: str | None,
    metrics: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    state = {k: v.detach().to("cpu", dtype=dtype if v.is_floating_point() else v.dtype).clone()
             for k, v in module.state_dict().items()}
    return {
        "weights_sha256": weights_sha256({"state_dict": state}),
        "format": FORMAT,
        "arch": arch,
        "hparams": _plain(hparams),
        "scale": int(scale),
        "supports_half": bool(supports_half),
        "config": config,
        "state_dict": state,
        "metrics": _plain(metrics or {}),
    }


def save_checkpoint(path: str | os.PathLike[str], ckpt: dict[str, Any]) -> Path:
    """Write `ckpt` to `path` atomically (a temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; weights are package data that everyone reads
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint dict at `path` (weights_only loading). Raises InputError if unreadable."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a weight file (a `vsr train` run's model is its model.pt)")
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or not a torch file
        # torch's own text runs over many lines and suggests weights_only=False, which vsr never uses
        raise InputError(f"cannot read checkpoint {path}: not a torch weight file, or damaged ({type(exc).__name__})") from exc
    missing = [k for k in ("arch", "hparams", "scale", "state_dict") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing and isinstance(ckpt, dict) and {"optimizer", "iteration"} <= set(ckpt):
        raise InputError(f"{path} is the resume state of `vsr train`, not a model; the trained model is "
                         f"{path.with_name('model.pt')}, written when the training ends")
    if missing:
        raise InputError(f"{path} is not a vsr model checkpoint (missing: {', '.join(missing)})")
    _check_weights(ckpt, path)
    return ckpt


def _check_weights(ckpt: dict[str, Any], path: Path) -> None:
    """InputError for weights a damaged file gives: other than those saved (where the file says
    which), or not numbers (NaN, infinite: a damaged file, or a training that diverged). Without
    it a damaged model wrote black pictures, or slightly different ones, with exit status 0."""
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise InputError(f"{path} is not a vsr model checkpoint (its state_dict is not a dict of tensors)")
    tensors = state.values()
    stored = ckpt.get("weights_sha256")
    if isinstance(stored, str) and stored != weights_sha256(ckpt):
        raise InputError(f"{path} is damaged: its weights are not those it was saved with; get the file again")
    if any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in tensors):
        raise InputError(f"{path} holds weights that are not numbers (NaN or infinite): the file is damaged, "
                         "or its training diverged")


def weights_sha256(ckpt: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's weights (names, dtypes, shapes, values), not of the file's bytes.

    The file also holds metrics such as the training time, which differ between two runs that
    produce the same weights; this digest names the weights alone.
    """
    digest = hashlib.sha256()
    for name in sorted(ckpt["state_dict"]):
        tensor = ckpt["state_dict"][name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def module_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the float32, eval-mode CPU module a checkpoint dict describes."""
    try:
        module = build(ckpt["arch"], int(ckpt["scale"]), ckpt["hparams"])
    except ValueError as exc:
        raise UnsupportedModelError(f"checkpoint hyper-parameters do not fit {ckpt['arch']!r}: {exc}") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    try:
        module.load_state_dict(state)
    except RuntimeError:  # torch's text lists every tensor, one per line
        raise UnsupportedModelError(
            f"the weights do not fit the model the file describes ({ckpt['arch']} x{ckpt['scale']}, {ckpt['hparams']}): "
            "tensors missing, unexpected or of another shape; the file was changed or damaged") from None
    return module.float().eval().requires_grad_(False)
