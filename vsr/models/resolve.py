"""One rule for turning what a user names (nothing, a model name, a weight file, a model) into an SRModel."""

from __future__ import annotations

import os
from pathlib import Path

from vsr.errors import UnsupportedModelError
from vsr.models.checkpoint import read_checkpoint
from vsr.models.descriptor import SRModel
from vsr.models.loading import default_model_name, load_model, load_model_file, weights_path
from vsr.models.registry import ARCHS, MULTI_FRAME_ARCHS
from vsr.options import CLEANUP_SCALE, check_scale


def is_weight_file(model: str | os.PathLike[str]) -> bool:
    """True when `model` names a weight file rather than a registered model: a path object, or a
    string that is not a registered name and ends in .pt or names an existing file."""
    if not isinstance(model, str):
        return True
    return model not in ARCHS and model not in MULTI_FRAME_ARCHS and (model.endswith(".pt") or Path(model).is_file())


def model_file(name: str | os.PathLike[str], scale: int) -> Path | None:
    """The weight file behind `name` at `scale` (the named file, or a shipped model's), or None
    (bicubic, a multi-frame model without weights, a name not shipped at that scale)."""
    if is_weight_file(name):
        return Path(name)
    path = weights_path(str(name), scale)
    return path if path.is_file() else None


DEFAULT_SCALE = 4


def default_scale(model: str | os.PathLike[str] | None) -> int:
    """The scale to use when none is asked for: a weight file's own scale, else DEFAULT_SCALE.
    Raises InputError for a weight file that is missing or unreadable."""
    if model is not None and is_weight_file(model):
        return int(read_checkpoint(model)["scale"])
    return DEFAULT_SCALE


def resolve(model: str | os.PathLike[str] | SRModel | None, scale: int | None) -> SRModel:
    """The model to run at `scale`.

    None: the best shipped model for the scale; a registered name: its shipped weights
    (`load_model`); a weight file (see `is_weight_file`): that checkpoint (`load_model_file`),
    which must be a `scale` model; an SRModel: itself, which must be a `scale` model.
    scale: 2, 3 or 4, or 1 for a clean-up model (never the default); None only for a weight file or
    an SRModel (their own scale).
    Raises UnsupportedModelError for an unsupported or mismatched scale or an unknown name,
    InputError for a missing or unreadable weight file.
    """
    if scale is not None:
        check_scale(scale)
    if isinstance(model, SRModel):
        if scale is not None and model.scale != scale:
            raise UnsupportedModelError(f"model {model.name} is for scale {model.scale}, not {scale}")
        return model
    if model is not None and is_weight_file(model):
        loaded = load_model_file(model)
        if scale is not None and scale != loaded.scale:
            raise UnsupportedModelError(f"{model} is an x{loaded.scale} model, not x{scale}")
        return loaded
    if model is not None and (Path(model) / "model.pt").is_file():
        raise UnsupportedModelError(f"{model} is a folder (a training run's?); give its weight file: {Path(model) / 'model.pt'}")
    if scale is None:
        raise UnsupportedModelError(f"--scale is needed for model {model!r}")
    if scale == CLEANUP_SCALE and model is None:
        raise UnsupportedModelError(f"scale {CLEANUP_SCALE} does not upscale: it needs a clean-up model "
                                    "(--restore, or --model stream for heavily compressed video)")
    return load_model(model or default_model_name(scale), scale)
