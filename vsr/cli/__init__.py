"""The `vsr` command: a thin typer layer over the Python API.

Each sub-command lives in its own module and registers itself on `app`.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vsr",
    help="Video super-resolution that keeps audio, timing and metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Importing the command modules registers their commands on `app`.
from vsr.cli import upscale as _upscale  # noqa: E402,F401
from vsr.cli import bench as _bench  # noqa: E402,F401
from vsr.cli import train as _train  # noqa: E402,F401
from vsr.cli import evaluate as _evaluate  # noqa: E402,F401
from vsr.cli import models as _models  # noqa: E402,F401


def main() -> None:
    app()
