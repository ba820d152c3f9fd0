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
    _standard_streams_open()
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


def _standard_streams_open() -> None:
    """Descriptors 0, 1 and 2 open (on /dev/null where the caller closed them: `2>&-`): else the
    first file vsr opens gets one of them, and whatever FFmpeg or an encoder says on stderr is
    written into it, the output's partial file perhaps. Python's sys.stdout and sys.stderr, None
    for a descriptor closed at start, are made again on them."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    if sys.stdout is None:
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def __getattr__(name: str) -> Any:
    """`vsr.cli.app`, the typer application, imported on first use (PEP 562)."""
    if name == "app":
        from vsr.cli.commands import app

        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
