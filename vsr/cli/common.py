"""What every command shares: logging set-up and turning failures into one line."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator

import typer
from tqdm import tqdm

from vsr.cli.signals import Interrupted, as_interrupted
from vsr.errors import VsrError

DEBUG_HELP = "Show tracebacks and debug messages."
QUIET_HELP = "No progress bar and no informational messages (warnings and errors are still said)."
THREADS_HELP = "torch threads for the models (0 or none: torch's default, one per core; 1 gives steadier timings on a machine other jobs keep busy)."


def use_threads(threads: int | None) -> None:
    """Run torch on `threads` threads (None or 0: torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def setup_logging(*, debug: bool = False, quiet: bool = False) -> None:
    """Send the library's log records to stderr as `vsr: warning: ...` lines."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = _BarAwareHandler(sys.stderr)
    handler.setFormatter(_VsrFormatter())
    root = logging.getLogger("vsr")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    _opencv_quiet_but_when_debugging(debug)


def _opencv_quiet_but_when_debugging(debug: bool) -> None:
    """OpenCV prints its own warnings to stderr beside vsr's lines ("[ WARN:0@0.1] ... TIFF_Warning"
    twice for every RGBA TIFF): its errors only, but with --debug (an error can be the only sign of a
    picture OpenCV decoded to black: a TIFF compressed in a scheme it lacks). The command's process
    only: the library leaves OpenCV's settings alone."""
    import cv2

    levels = getattr(getattr(cv2, "utils", None), "logging", None)
    if levels is not None and hasattr(levels, "setLogLevel"):
        levels.setLogLevel(levels.LOG_LEVEL_DEBUG if debug else levels.LOG_LEVEL_ERROR)


class _BarAwareHandler(logging.StreamHandler):
    """Writes each line through tqdm, which lifts a progress bar off its line first: a warning
    while the bar shows started in the middle of the bar's line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # as logging.StreamHandler does: a failing log line never stops the run
            self.handleError(record)


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
        notes = "; ".join(getattr(exc, "__notes__", ()))  # what the library says of the work left (a folder run)
        typer.echo(f"{interrupted.line}: {notes}" if notes else interrupted.line, err=True)
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


NON_TERMINAL_SECONDS = 30.0
"""How often a progress bar writes its line where stderr is no terminal (a log file, nohup, Slurm)."""


class _Lines:
    """tqdm's output where stderr is no terminal: each refresh one whole line, not a carriage return
    over the last (a log file grew by a bar twice a second, and the clearings left blank lines)."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            with contextlib.suppress(OSError, ValueError):  # a reader gone (| head -1) loses the bar, not the run
                self.stream.write(line + "\n")

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()


def report(line: str, *, err: bool = False) -> None:
    """Print what became of finished work; a stream the reader closed (`| head -1`, `2>&-`) loses
    the line, not the run's exit status (the work is done: it exited 1)."""
    with contextlib.suppress(OSError, ValueError):  # EPIPE, EBADF; ValueError: a closed Python stream
        typer.echo(line, err=err)


def progress_bar(**options) -> tqdm:  # type: ignore[no-untyped-def]
    """A tqdm bar on stderr: redrawn in place on a terminal, else a line every NON_TERMINAL_SECONDS."""
    stream = sys.stderr
    if hasattr(stream, "isatty") and stream.isatty():
        return tqdm(file=stream, dynamic_ncols=True, **options)
    return tqdm(file=_Lines(stream), ncols=100,  # the first line too after that long: a short job's log holds no bar
                **{**options, "mininterval": NON_TERMINAL_SECONDS, "maxinterval": NON_TERMINAL_SECONDS,
                   "delay": NON_TERMINAL_SECONDS})


class ProgressBar:
    """A tqdm bar fed by a library's progress callback `update(done, total)`: count, rate, ETA.
    The total may arrive late or change (a filter that changes the frame count)."""

    def __init__(self, disable: bool, unit: str = "frame", desc: str | None = None) -> None:
        self.disable, self.unit, self.desc = disable, unit, desc
        self.bar: tqdm | None = None

    def update(self, done: int, total: int | None) -> None:
        if self.disable:
            return
        if self.bar is None:  # what was done before (a resumed job's segments) is the start, not a burst of speed
            self.bar = progress_bar(total=total, initial=done, unit=self.unit, desc=self.desc, leave=False, mininterval=0.5)
        if total and self.bar.total != total and done <= total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def one_of(*values: str) -> Callable[[str | None], str | None]:
    """A typer callback that refuses a value outside `values` as a usage mistake, as an unknown
    option is (exit 2, one line): a misspelt name was the run's error (exit 1) for some options and
    typer's (exit 2) for others."""
    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, values))}")
        return value

    return check
