"""vsr: video super-resolution that keeps audio, timing and metadata.

    import vsr
    vsr.upscale_video("input.mp4", scale=4)          # writes input_x4.mp4

    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="espcn", scale=2))
    vsr.upscale_video("input.mp4", "out.mkv", options=options)

The public names load on first use (PEP 562), so that `import vsr` and the `vsr` command start
without importing torch; `from vsr import upscale_video` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES: dict[str, str] = {
    "upscale_video": "vsr.pipeline.run",
    "UpscaleResult": "vsr.pipeline.result",
    "UpscaleOptions": "vsr.options",
    "ModelOptions": "vsr.options",
    "MultiFrameOptions": "vsr.options",
    "FilterOptions": "vsr.options",
    "EncodeOptions": "vsr.options",
    "RunOptions": "vsr.options",
    "load_model": "vsr.models",
    "model_names": "vsr.models",
    "SRModel": "vsr.models",
    "VsrError": "vsr.errors",
    "InputError": "vsr.errors",
    "OutputError": "vsr.errors",
    "ConfigError": "vsr.errors",
    "UnsupportedModelError": "vsr.errors",
    "PipelineError": "vsr.errors",
    "upscale_in_segments": "vsr.segments.run",
    "upscale_folder": "vsr.segments.folder",
}
"""Each public name and the module that defines it."""

__all__ = list(_HOMES)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and keep the name here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(home), name)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
