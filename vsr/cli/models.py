"""`vsr models`: what models there are and at which scales weights ship."""

from __future__ import annotations

import typer

from vsr.cli import app


@app.command("models")
def models() -> None:
    """List the models, the scales they ship at and the default for each scale."""
    from vsr.models import default_model_name, model_names, shipped_models, weights_path
    from vsr.models.registry import MULTI_FRAME_ARCHS
    from vsr.pipeline.run import SCALES

    shipped = shipped_models()
    for name in model_names():
        scales = list(SCALES) if name == "bicubic" else [s for n, s in shipped if n == name]
        where = ", ".join(f"x{s}" for s in scales) or "no weights shipped"
        typer.echo(f"{name:<10} {where}")
    for name, spec in MULTI_FRAME_ARCHS.items():
        where = ", ".join(f"x{s}" for s in spec.scales if weights_path(name, s).is_file()) or "no weights shipped"
        typer.echo(f"{name:<10} {where} (multi-frame: --mode multi --model {name}, learned fusion)")
    typer.echo("default: " + ", ".join(f"x{s} {default_model_name(s)}" for s in SCALES))
