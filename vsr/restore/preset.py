"""`--restore`: one switch for old footage. It deinterlaces where the source is interlaced
(`deinterlace="auto"`, unless a deinterlacer or inverse telecine was chosen) and upscales with
the restoration model for the scale (`restore`, or another restoration model given by name),
which removes compression artefacts, noise and blur instead of sharpening them."""

from __future__ import annotations

from vsr.errors import ConfigError, UnsupportedModelError
from vsr.models.loading import weights_path
from vsr.models.registry import ARCHS, RESTORATION
from vsr.options import UpscaleOptions

RESTORE_MODEL = "restore"


def restore_options(options: UpscaleOptions) -> UpscaleOptions:
    """`options` with the restoration preset applied. Raises ConfigError for a super-resolution
    model or multi-frame mode asked for together with it, UnsupportedModelError where no
    restoration model is shipped at the scale (the message lists the scales that have one)."""
    name = options.model.name or RESTORE_MODEL
    spec = ARCHS.get(name)
    if options.model.name is not None and (spec is None or spec.purpose != RESTORATION):
        restorers = ", ".join(n for n, s in ARCHS.items() if s.purpose == RESTORATION)
        raise ConfigError(f"--restore runs a restoration model ({restorers}), not {name!r}; drop --model or pick one of those")
    if options.multi_frame.mode != "single":
        raise ConfigError("--restore runs single-frame restoration models; drop --mode multi")
    scale = options.model.scale
    if not weights_path(name, scale).is_file():
        shipped = ", ".join(f"x{s}" for s in ARCHS[name].scales if weights_path(name, s).is_file()) or "no scale yet"
        raise UnsupportedModelError(f"no {name} model is shipped at x{scale}; {name} is shipped at {shipped}")
    filters = options.filters
    deinterlace = filters.deinterlace if filters.deinterlace != "off" or filters.ivtc else "auto"
    return options.replace(model={"name": name}, filters={"deinterlace": deinterlace})
