"""`vsr models`: what models there are and at which scales weights ship."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from vsr.models.registry import ArchSpec


def models() -> None:
    """List the models, the scales they ship at and the default for each scale."""
    from vsr.models import default_model_name, shipped_models, weights_path
    from vsr.models.registry import ARCHS, MULTI_FRAME_ARCHS
    from vsr.options import CLEANUP_SCALE, SCALES

    shipped = shipped_models()
    width = max(map(len, [*ARCHS, *MULTI_FRAME_ARCHS]))
    for name, spec in ARCHS.items():
        scales = spec.scales if not spec.learned else [s for n, s in shipped if n == name]
        where = ", ".join(f"x{s}" + (" (clean-up, same size)" if s == CLEANUP_SCALE else "") for s in scales) \
            or "no weights shipped"
        typer.echo(f"{name:<{width}} {where}{_trained_for(spec)}")
    for name, spec in MULTI_FRAME_ARCHS.items():
        where = ", ".join(f"x{s}" for s in spec.scales if weights_path(name, s).is_file())
        if where:
            typer.echo(f"{name:<{width}} {where} (multi-frame: --mode multi --model {name}, learned fusion){_trained_for(spec)}")
        else:
            typer.echo(f"{name:<{width}} no weights shipped (multi-frame, learned fusion: train one with `vsr train` and "
                       f"give its model.pt to --model){_trained_for(spec)}")
    typer.echo("default: " + ", ".join(f"x{s} {default_model_name(s)}" for s in SCALES))


def _trained_for(spec: ArchSpec) -> str:
    """` (trained for: ...)` where a model's training input is not the clean bicubic benchmark's."""
    from vsr.models.registry import BI, NOT_TRAINED, RESTORATION

    if spec.purpose == RESTORATION:
        return f" (restoration, trained for: {spec.degradation}; --restore)"
    return f" (trained for: {spec.degradation})" if spec.degradation not in (BI, NOT_TRAINED) else ""
