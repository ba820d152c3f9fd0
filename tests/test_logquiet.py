"""vsr.logquiet: a logger quieted in one thread, for a block."""

from __future__ import annotations

import logging
import threading

from vsr.logquiet import quiet_here


def test_blocks_that_end_out_of_order_leave_the_logger_heard(caplog):
    """Each block took back a snapshot of what was quiet: A in, B in, A out, B out left it quiet for good."""
    log = logging.getLogger("vsr.test.quiet")
    first, second = quiet_here(log.name), quiet_here(log.name)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        first.__enter__()
        second.__enter__()
        log.warning("not said")
        first.__exit__(None, None, None)
        log.warning("still not said")  # the second block is still open
        second.__exit__(None, None, None)
        log.warning("said")
    assert caplog.messages == ["said"]


def test_another_thread_is_heard_meanwhile(caplog):
    log = logging.getLogger("vsr.test.quiet")
    with caplog.at_level(logging.WARNING, logger="vsr"), quiet_here(log.name):
        log.warning("not said")
        worker = threading.Thread(target=log.warning, args=("said elsewhere",))
        worker.start()
        worker.join()
    assert caplog.messages == ["said elsewhere"]
