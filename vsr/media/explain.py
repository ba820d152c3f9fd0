"""FFmpeg's reasons for a failed call: PyAV raises a bare errno ("invalid argument"), while
FFmpeg and the libraries under it (x264, the filters) say what is wrong only in their log."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import av
import av.logging

from vsr.errors import ConfigError

T = TypeVar("T")
_LOG_LEVEL = threading.RLock()


def explained(action: Callable[[], T], failure: str) -> T:
    """Run an FFmpeg call; on failure raise ConfigError(failure: FFmpeg's reasons). FFmpeg gives the
    reason (an option it cannot parse, a size too big) only in its log, so that is captured."""
    with _LOG_LEVEL:  # FFmpeg's log level is the process's: one caller at a time sets and restores it
        previous = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logs:
                try:
                    return action()
                except (av.FFmpegError, ValueError) as exc:
                    reasons = list(dict.fromkeys(log[2].strip() for log in logs)) or [str(exc)]
                    raise ConfigError(f"{failure}: {'; '.join(reasons)}") from None
        finally:
            av.logging.set_level(previous)
