"""Thread supervision for the stages of one job: named threads, one shared stop event, prompt stops.

    stages = Stages()
    frames = stages.queue(16)
    stages.start("decode", lambda: produce(frames, stages.stop))
    stages.start("upscale", lambda: consume(frames, stages.stop))
    try:
        stages.wait(on_tick=report_progress)   # re-raises the first failure
    except BaseException:
        stages.stop_all()
        raise

A stage that raises records its failure and sets the stop event; every other stage, blocked on a
StageQueue or polling the event, then gives up (`Stopped`, which ends a stage quietly). The
watching thread re-raises the first failure: a VsrError as it is, anything else as
PipelineError(stage name). Reusable by anything that runs its own stages (a segment worker, an
experiment's encode ladder).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

from vsr.errors import PipelineError, VsrError
from vsr.pipeline.queue import StageQueue, Stopped

STOP_GRACE_SECONDS = 0.8
"""How long stop_all waits for the stage threads, all together, before giving up on them."""
TICK_SECONDS = 0.1
"""How often wait() calls its on_tick."""


class Stages:
    """The stage threads of one job (daemon threads named `<prefix><stage>`) and their stop event."""

    def __init__(self, thread_prefix: str = "vsr-") -> None:
        self.stop = threading.Event()
        self.thread_prefix = thread_prefix
        self._ended: list[threading.Event] = []
        """Set by each stage as it ends. Not Thread.is_alive(): in Python 3.11 a KeyboardInterrupt
        raised inside Thread.join() marks the joined thread as ended while it still runs (a stopped
        job then closed the output under the writer, a segmentation fault)."""
        self._failures: list[tuple[str, BaseException]] = []
        self._cleanups: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def queue(self, maxsize: int) -> StageQueue:
        """A bounded queue between two of these stages that gives up when they stop."""
        return StageQueue(maxsize, self.stop)

    def start(self, name: str, body: Callable[[], None]) -> None:
        """Run `body` in a new thread as the stage `name`, in a copy of the caller's context (its
        context variables: whose run a log record is part of)."""
        ended = threading.Event()
        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run, name, body, ended), name=f"{self.thread_prefix}{name}",
            daemon=True,
        )
        thread.start()
        self._ended.append(ended)  # after the start: a thread that never started would never end

    @property
    def running(self) -> bool:
        """Whether any stage thread is still running."""
        return not all(ended.is_set() for ended in self._ended)

    def wait(self, on_tick: Callable[[], None] | None = None) -> None:
        """Block until every stage has ended or the stop event is set, calling `on_tick` about
        every TICK_SECONDS and once at the end. Re-raises the first stage failure (after stopping
        the others): a VsrError as it is, another exception as PipelineError(stage, "Type: text")
        with the original as its cause. An exception from `on_tick` propagates as it is."""
        while not self.stop.is_set() and (running := [e for e in self._ended if not e.is_set()]):
            running[0].wait(timeout=TICK_SECONDS)
            if on_tick is not None:
                on_tick()
        if self._failures:
            self.stop_all()
            name, exc = self._failures[0]
            if isinstance(exc, VsrError):
                raise exc
            raise PipelineError(name, f"{type(exc).__name__}: {exc}") from exc
        if on_tick is not None:
            on_tick()

    def stop_all(self) -> bool:
        """Set the stop event and wait up to STOP_GRACE_SECONDS in all for the threads to end.
        Returns whether they all did."""
        self.stop.set()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for ended in self._ended:
            ended.wait(timeout=max(0.0, deadline - time.monotonic()))
        return not self.running

    def when_ended(self, cleanup: Callable[[], None]) -> None:
        """Call `cleanup` once every stage thread has ended: now if they have, else from the last
        to end (a stage still inside a long C call after stop_all's grace: what it writes to must
        not be closed under it, nor left open for good). Its exceptions are ignored."""
        with self._lock:
            if self.running:
                self._cleanups.append(cleanup)
                return
        _call_quietly(cleanup)

    def _run(self, name: str, body: Callable[[], None], ended: threading.Event) -> None:
        try:
            body()
        except Stopped:
            pass
        except BaseException as exc:  # recorded and re-raised by the watching thread
            self._failures.append((name, exc))
            self.stop.set()
        finally:
            ended.set()
            self._clean_up_if_last()

    def _clean_up_if_last(self) -> None:
        with self._lock:
            if self.running:
                return
            cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            _call_quietly(cleanup)


def _call_quietly(cleanup: Callable[[], None]) -> None:
    try:
        cleanup()
    except Exception:  # noqa: BLE001 - a cleanup after a failure: the failure is what is reported
        pass
