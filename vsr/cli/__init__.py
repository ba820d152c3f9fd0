"""The `vsr` command. This module stays light (no typer, no torch) so that the entry point can
install the signal handlers before anything slow is imported: a Ctrl-C, SIGTERM or SIGHUP at any
moment, start-up included, ends with one line and 128 + the signal number.

The typer application is `vsr.cli.commands.app`; `from vsr.cli import app` loads it on first use.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from vsr.cli.signals import Interrupted, end_quietly_on_signals, install_handlers, stop_now


def main() -> None:
    """The console script. After a failure or a signal, exit at once: the pipeline has already
    removed its temporary file, and waiting for interpreter teardown behind a stage still inside a
    long C call (an encoder, a model forward) would take seconds."""
    install_handlers()
    try:
        from vsr.cli.commands import app

        app()
        end_quietly_on_signals()
    except SystemExit as exc:
        if exc.code not in (0, None):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        end_quietly_on_signals()
        raise
    except (Interrupted, KeyboardInterrupt) as exc:  # outside a command's one-line errors (start-up, imports)
        stop_now(exc)


def __getattr__(name: str) -> Any:
    """`vsr.cli.app`, the typer application, imported on first use (PEP 562)."""
    if name == "app":
        from vsr.cli.commands import app

        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
