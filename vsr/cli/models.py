"""`vsr models`: what models there are and at which scales weights ship."""

from __future__ import annotations

import typer


def models() -> None:
    """List the models, the scales they ship at and the default for each scale."""
    from vsr.models import default_model_name, shipped_models, weights_path
    from vsr.models.registry import ARCHS, BI, MULTI_FRAME_ARCHS, NOT_TRAINED, RESTORATION
    from vsr.options import CLEANUP_SCALE, SCALES

    shipped = shipped_models()
    for name, spec in ARCHS.items():
        scales = spec.scales if not spec.learned else [s for n, s in shipped if n == name]
        where = ", ".join(f"x{s}" + (" (clean-up, same size)" if s == CLEANUP_SCALE else "") for s in scales) \
            or "no weights shipped"
        if spec.purpose == RESTORATION:
            trained_for = f" (restoration, trained for: {spec.degradation}; --restore)"
        elif spec.degradation not in (BI, NOT_TRAINED):
            trained_for = f" (trained for: {spec.degradation})"
        else:
            trained_for = ""
        typer.echo(f"{name:<12} {where}{trained_for}")
    for name, spec in MULTI_FRAME_ARCHS.items():
        where = ", ".join(f"x{s}" for s in spec.scales if weights_path(name, s).is_file()) or "no weights shipped"
        typer.echo(f"{name:<12} {where} (multi-frame: --mode multi --model {name}, learned fusion)")
    typer.echo("default: " + ", ".join(f"x{s} {default_model_name(s)}" for s in SCALES))
