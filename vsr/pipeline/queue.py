"""Bounded hand-off between pipeline stages.

Every blocking call waits in short slices and checks a shared stop event, so no stage can
block forever when another one fails: the failing stage records its error and sets the event.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.05


class Stopped(Exception):
    """Raised inside a stage when the pipeline is stopping; the stage just returns."""


class _End:
    def __repr__(self) -> str:
        return "END"


END = _End()
"""Put by a producer after its last item."""


class StageQueue(Generic[T]):
    """A bounded FIFO whose put/get give up with `Stopped` as soon as `stop` is set."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize)
        self._stop = stop
        self.maxsize = maxsize

    def put(self, item: T | _End) -> None:
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def get(self) -> T | _End:
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                return self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue

    def until_end(self) -> Iterator[T]:
        """Every item up to END (taken, not yielded), each as `get` gives it."""
        while (item := self.get()) is not END:
            yield item  # type: ignore[misc]

    def qsize(self) -> int:
        return self._queue.qsize()
