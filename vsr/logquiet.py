"""Leaving out, in one thread, what a logger says: a pass over the same input again (a folder's
frame count before its run, an experiment's second pass over its source) would repeat the first's
warnings, while other threads (a program that embeds vsr may run several jobs) go on being heard."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

_quiet = threading.local()


def _heard(record: logging.LogRecord) -> bool:
    return record.name not in getattr(_quiet, "loggers", ())


@contextlib.contextmanager
def quiet_here(*loggers: str) -> Iterator[None]:
    """Within, the records of `loggers` (names, as logging.getLogger takes them) logged by this
    thread are left out."""
    for name in loggers:
        logger = logging.getLogger(name)
        if _heard not in logger.filters:
            logger.addFilter(_heard)
    counts = getattr(_quiet, "counts", None)
    if counts is None:
        counts = _quiet.counts = {}
    for name in loggers:  # counted, not snapshot: blocks that end out of order each take back their own
        counts[name] = counts.get(name, 0) + 1
    _quiet.loggers = frozenset(name for name, count in counts.items() if count)
    try:
        yield
    finally:
        for name in loggers:
            counts[name] -= 1
        _quiet.loggers = frozenset(name for name, count in counts.items() if count)
