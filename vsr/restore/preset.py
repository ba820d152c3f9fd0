"""`--restore`: one switch for old footage. It deinterlaces where the source is interlaced
(`deinterlace="auto"`, unless a deinterlacer or inverse telecine was chosen), denoises temporally
(`denoise="temporal"`, unless another denoiser was chosen: it measures the noise of every frame and
leaves frames with too little noise as they are) and upscales with the restoration model for the scale
(`restore`, or another restoration model given by name or weight file), which removes compression
artefacts, noise and blur instead of sharpening them."""

from __future__ import annotations

from vsr.errors import ConfigError
from vsr.models.registry import ARCHS, RESTORATION
from vsr.models.resolve import resolve
from vsr.options import UpscaleOptions

RESTORE_MODEL = "restore"
RESTORE_DENOISE = "temporal"


def restore_options(options: UpscaleOptions, *, deinterlace: str | None = None,
                    denoise: str | None = None) -> UpscaleOptions:
    """`options` with the restoration preset applied. `deinterlace`: the deinterlacer asked for
    (None: "auto", or what `options` already asks for when that is not "off" or is inverse
    telecine); `denoise`: the denoiser asked for (None: "temporal", or what `options` already asks
    for when that is not "off"). Raises ConfigError for a super-resolution model or multi-frame mode asked for
    together with it, UnsupportedModelError where no restoration model is shipped at the scale
    (the message lists the scales that have one), InputError for an unreadable weight file."""
    if options.multi_frame.mode != "single":
        raise ConfigError("--restore runs single-frame restoration models; drop --mode multi")
    name = options.model.name or RESTORE_MODEL
    if resolve(name, options.model.scale).purpose != RESTORATION:
        restorers = ", ".join(n for n, spec in ARCHS.items() if spec.purpose == RESTORATION)
        raise ConfigError(f"--restore runs a restoration model ({restorers}), not {name!r}; drop --model or pick one of those")
    if deinterlace is None:
        filters = options.filters
        deinterlace = filters.deinterlace if filters.deinterlace != "off" or filters.ivtc else "auto"
    if denoise is None:
        denoise = options.filters.denoise if options.filters.denoise != "off" else RESTORE_DENOISE
    return options.replace(model={"name": name}, filters={"deinterlace": deinterlace, "denoise": denoise})
