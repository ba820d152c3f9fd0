"""The `vsr` command: a thin typer layer over the Python API.

Each sub-command lives in its own module and registers itself on `app`.
"""

from __future__ import annotations

import os
import sys

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
    """The console script. After a failure, exit at once: the pipeline has already removed its
    temporary file, and waiting for interpreter teardown behind a stage still inside a long
    C call (an encoder, a model forward) would take seconds."""
    try:
        app()
    except SystemExit as exc:
        if exc.code not in (0, None):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        raise
