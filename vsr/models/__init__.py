"""Models: a registry of architectures, the descriptors of loaded models, and the weights shipped with the package.

    from vsr.models import resolve, load_model, model_names, default_model_name, SRModel
    m = resolve(None, 4)                # the best shipped x4 model; also a name or a weight file's path
    m.frames, m.purpose, m.degradation  # 1, "super-resolution", "bicubic downscale (BI)"
    y = m.run_luma(plane)               # (h, w) luma in 8-bit levels → (4h, 4w) float levels, not clamped
    m.module                            # maps (N,1,H,W) luma in [0,1] to (N,1,4H,4W), not clamped

Modules: registry (architectures and what their models are), descriptor (SRModel), luma (the
one-plane runner), checkpoint (self-describing weight files), loading (shipped weights and
checkpoint files), resolve (name | weight file | model → SRModel), one file per architecture.
"""

from __future__ import annotations

from vsr.models.checkpoint import checkpoint_dict, read_checkpoint, save_checkpoint
from vsr.models.descriptor import SRModel
from vsr.models.loading import (
    default_model_name,
    load_model,
    load_model_file,
    model_from_checkpoint,
    model_names,
    shipped_models,
    weights_path,
)
from vsr.models.luma import run_luma
from vsr.models.registry import build
from vsr.models.resolve import default_scale, is_weight_file, resolve

__all__ = [
    "SRModel",
    "resolve",
    "default_scale",
    "is_weight_file",
    "run_luma",
    "load_model",
    "load_model_file",
    "model_from_checkpoint",
    "model_names",
    "default_model_name",
    "shipped_models",
    "weights_path",
    "build",
    "checkpoint_dict",
    "save_checkpoint",
    "read_checkpoint",
]
