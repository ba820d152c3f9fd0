"""The typer application behind the `vsr` command: each sub-command is a function in its own
module, registered here in the order `vsr --help` lists them."""

from __future__ import annotations

import typer

from vsr.cli.bench import bench
from vsr.cli.evaluate import eval_command
from vsr.cli.experiment import experiment
from vsr.cli.models import models
from vsr.cli.train import train_command
from vsr.cli.upscale import upscale

app = typer.Typer(
    name="vsr",
    help="Video super-resolution that keeps audio, timing and metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("upscale")(upscale)
app.command("bench")(bench)
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("experiment")(experiment)
app.command("models")(models)
