"""What every command shares: logging set-up and turning failures into one line."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator

import typer

from vsr.cli.signals import Interrupted, as_interrupted
from vsr.errors import VsrError

DEBUG_HELP = "Show tracebacks and debug messages."
QUIET_HELP = "No progress bar and no informational messages."


def setup_logging(*, debug: bool = False, quiet: bool = False) -> None:
    """Send the library's log records to stderr as `vsr: warning: ...` lines."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_VsrFormatter())
    root = logging.getLogger("vsr")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class _VsrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "vsr: " if record.levelno <= logging.INFO else f"vsr: {record.levelname.lower()}: "
        return prefix + record.getMessage()


@contextlib.contextmanager
def one_line_errors(*, debug: bool = False) -> Iterator[None]:
    """Turn any failure into a one-line message and a non-zero exit (a traceback only with debug)."""
    try:
        yield
    except typer.Exit:
        raise
    except (KeyboardInterrupt, Interrupted) as exc:  # the library has cleaned up on its way out
        interrupted = as_interrupted(exc)
        typer.echo(interrupted.line, err=True)
        raise typer.Exit(interrupted.exit_code) from None
    except VsrError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"vsr: error: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # an unexpected failure: still one line unless debugging
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run again with --debug for the traceback)"
        typer.echo(f"vsr: error: {type(exc).__name__}: {exc}{hint}", err=True)
        raise typer.Exit(1) from None
