"""Stopping signals for the `vsr` command: SIGINT, SIGTERM and SIGHUP all stop a run the way Ctrl-C does.

Only the command installs these handlers; the library never touches signal dispositions, so a
program that calls `vsr.upscale_video` keeps its own. The handler raises `Interrupted` in the
main thread; the library's cleanup (stop the stages, remove the temporary file) runs as for any
exception, and the command then prints one line and exits with 128 + the signal number.

An exception raised from a signal handler can be lost: C code that calls back into Python and
then clears the error (a compiled module's initialisation, which imports other modules, does)
swallows it, and the run would go on as if no signal had come. So the handler does not raise
while a compiled module initialises: where the library has not started any work yet (the command
is still importing its modules, torch's C extension takes 1–2 s) it ends the process at once,
with nothing to clean up; otherwise it sends the signal again a moment later. Python itself only
reports an exception raised in a callback it runs for an object (a weakref callback: importlib's
module locks have one; a `__del__`): such a report of the handler's exception re-arms it and sends
the signal again. The first signal also starts a deadline after which the process ends whatever it
is doing.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import os
import signal
import sys
import threading
from types import FrameType

MESSAGES: dict[int, str] = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated",
    signal.SIGHUP: "hung up",
}
"""What the one line says for each signal the command handles."""

DEADLINE_SECONDS = 2.5
"""The process ends this long after the first signal even if its exception was lost or the cleanup
hangs (the normal way out takes well under a second: the stages' stop grace is 0.8 s)."""
REDELIVER_SECONDS = 0.02
"""How soon a signal that came during a compiled module's initialisation is sent again."""


class Interrupted(BaseException):
    """Raised in the main thread when the command receives SIGINT, SIGTERM or SIGHUP.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it; not a
    KeyboardInterrupt, so that typer/click do not turn it into a silent exit before the command
    prints its line.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process that a signal ended."""
        return 128 + self.signum

    @property
    def line(self) -> str:
        return f"vsr: {MESSAGES.get(self.signum, signal.Signals(self.signum).name)}"


def as_interrupted(exc: BaseException) -> Interrupted:
    """`exc` (an Interrupted or a KeyboardInterrupt) as an Interrupted."""
    return exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)


class _Handler:
    """Raises Interrupted once, on the first signal (deferred while a compiled module initialises);
    later signals are ignored, so that the cleanup the first one started can finish."""

    def __init__(self) -> None:
        self.first: Interrupted | None = None
        self.raised = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.raised:
            return
        if self.first is None:
            self.first = Interrupted(signum)
            deadline = threading.Timer(DEADLINE_SECONDS, stop_now, (self.first,), {"flush": False})
            deadline.daemon = True
            deadline.start()
        if _in_compiled_module_init(frame):
            if _library_idle(frame):
                stop_now(self.first)
            _send_again(signum)
            return
        self.raised = True
        raise self.first

    def lost(self, signum: int) -> None:
        """The exception raised was reported and dropped by Python (raised in a callback): raise it
        again at the next chance."""
        self.raised = False
        _send_again(signum)


def _send_again(signum: int) -> None:
    resend = threading.Timer(REDELIVER_SECONDS, os.kill, (os.getpid(), signum))
    resend.daemon = True
    resend.start()


def _in_compiled_module_init(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside the initialisation of a compiled (C extension) module."""
    while frame is not None:
        if frame.f_code.co_name in ("create_module", "exec_module") and isinstance(
            frame.f_locals.get("self"), importlib.machinery.ExtensionFileLoader
        ):
            return True
        frame = frame.f_back
    return False


LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The vsr package's folder: frames of its code other than the command's own (vsr/cli) are the library's."""
COMMANDS = os.path.join(LIBRARY, "cli")


def _library_idle(frame: FrameType | None) -> bool:
    """Whether no library function is on the stack (only modules being imported, and the command's
    own code): no file can have been made yet, so there is nothing to clean up."""
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(LIBRARY + os.sep) and not path.startswith(COMMANDS + os.sep) and frame.f_code.co_name != "<module>":
            return False
        frame = frame.f_back
    return True


def install_handlers() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread (once per process);
    a signal the process was started ignoring stays ignored (`nohup` ignores SIGHUP, a shell
    ignores SIGINT for the jobs it starts in the background with &: they are to run on)."""
    handler = _Handler()
    IGNORED.clear()  # what this process ignores now (a program embedding the command may have changed it)
    for signum in MESSAGES:
        if signal.getsignal(signum) is signal.SIG_IGN:
            IGNORED.add(signum)
        else:
            signal.signal(signum, handler)
    previous = sys.unraisablehook
    sys.unraisablehook = _RearmOnLost(handler, previous.previous if isinstance(previous, _RearmOnLost) else previous)


class _RearmOnLost:
    """sys.unraisablehook: the handler's own exception, dropped where Python only reports one, is
    sent again rather than printed; anything else goes to the hook that was there."""

    def __init__(self, handler: _Handler, previous) -> None:
        self.handler = handler
        self.previous = previous

    def __call__(self, unraisable) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, Interrupted) and exc is self.handler.first:
            self.handler.lost(exc.signum)
        else:
            self.previous(unraisable)


IGNORED: set[int] = set()
"""The signals the process was started ignoring: they stay ignored, after the command too."""


def end_quietly_on_signals() -> None:
    """After the command has finished: a signal during interpreter teardown ends the process with
    its exit code, without an exception in an atexit callback (the work is already complete)."""
    for signum in set(MESSAGES) - IGNORED:
        signal.signal(signum, lambda signum, _frame: os._exit(128 + signum))


def stop_now(exc: BaseException, *, flush: bool = True) -> None:
    """Print the one line for an interruption and end the process with its exit code, at once:
    waiting for interpreter teardown behind a stage thread still in a long C call would take seconds.
    The line goes straight to file descriptor 2, which is safe from any thread. `flush`: write out
    what sys.stdout/sys.stderr hold first (not from the deadline's thread, which must not wait on
    a stream the main thread is blocked in)."""
    interrupted = as_interrupted(exc)
    for stream in (sys.stdout, sys.stderr) if flush else ():
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        os.write(2, (interrupted.line + "\n").encode())
    os._exit(interrupted.exit_code)
