"""vsr.pipeline.stages: named stage threads, one stop event, prompt stops and the first failure re-raised."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from vsr.errors import InputError, PipelineError
from vsr.pipeline.queue import END
from vsr.pipeline.stages import Stages

PROMPT_SECONDS = 1.0


def produce(queue, count: int) -> None:
    for index in range(count):
        queue.put(index)
    queue.put(END)


def consume_into(queue, out: list) -> None:
    while (item := queue.get()) is not END:
        out.append(item)


def forever_until(stop: threading.Event) -> None:
    """A stage that polls the stop event and never finishes on its own."""
    while not stop.wait(0.01):
        pass


def alive_threads(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def test_a_clean_run_passes_every_item_and_ends_every_thread():
    stages = Stages(thread_prefix="clean-")
    queue, out = stages.queue(2), []
    stages.start("produce", lambda: produce(queue, 50))
    stages.start("consume", lambda: consume_into(queue, out))
    stages.wait()
    assert out == list(range(50))
    assert not stages.running and alive_threads("clean-") == []
    assert not stages.stop.is_set()


def test_threads_are_named_after_their_stages():
    stages = Stages(thread_prefix="named-")
    seen: list[str] = []
    stages.start("decode", lambda: seen.append(threading.current_thread().name))
    stages.wait()
    assert seen == ["named-decode"]


def test_a_failing_stage_stops_the_others_within_a_second_and_is_raised_with_its_name():
    stages = Stages(thread_prefix="fail-")
    queue = stages.queue(1)
    stages.start("blocked-on-get", lambda: consume_into(queue, []))
    stages.start("polling", lambda: forever_until(stages.stop))

    def fails() -> None:
        time.sleep(0.05)
        raise RuntimeError("boom")

    stages.start("broken", fails)
    started = time.monotonic()
    with pytest.raises(PipelineError) as caught:
        stages.wait()
    assert time.monotonic() - started < PROMPT_SECONDS
    assert caught.value.stage == "broken"
    assert str(caught.value) == "broken: RuntimeError: boom"
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert alive_threads("fail-") == []


def test_only_the_first_failure_is_raised():
    stages = Stages(thread_prefix="first-")

    def first() -> None:
        raise ValueError("first")

    def second() -> None:
        stages.stop.wait(1)
        raise ValueError("second, while stopping")

    stages.start("one", first)
    stages.start("two", second)
    with pytest.raises(PipelineError, match="one: ValueError: first"):
        stages.wait()


def test_a_vsr_error_from_a_stage_is_raised_as_it_is():
    stages = Stages(thread_prefix="vsrerr-")
    error = InputError("not a video file")

    def fails() -> None:
        raise error

    stages.start("decode", fails)
    with pytest.raises(InputError) as caught:
        stages.wait()
    assert caught.value is error


def test_on_tick_is_called_while_running_and_once_at_the_end():
    stages = Stages(thread_prefix="tick-")
    release = threading.Event()
    ticks: list[bool] = []
    stages.start("slow", lambda: release.wait(2))

    def on_tick() -> None:
        ticks.append(release.is_set())
        if len(ticks) == 3:
            release.set()

    stages.wait(on_tick=on_tick)
    assert len(ticks) >= 4
    assert ticks[:2] == [False, False] and ticks[-1] is True


def test_an_exception_from_on_tick_propagates_and_stop_all_ends_the_stages():
    stages = Stages(thread_prefix="interrupt-")
    stages.start("polling", lambda: forever_until(stages.stop))

    def on_tick() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stages.wait(on_tick=on_tick)
    assert stages.running
    started = time.monotonic()
    assert stages.stop_all() is True
    assert time.monotonic() - started < PROMPT_SECONDS
    assert alive_threads("interrupt-") == []


class Signalled(BaseException):
    """What a signal handler raises in the main thread (the CLI's raises vsr.cli.signals.Interrupted)."""


def test_a_signal_while_waiting_interrupts_at_once_and_the_stages_stop_within_a_second(monkeypatch):
    """The main thread blocks in wait(); a signal handler's exception ends that wait (the join is
    interruptible), and stop_all then ends the stages, as pipeline/run.py does on the way out."""

    def raise_signalled(signum, frame):
        raise Signalled

    previous = signal.signal(signal.SIGUSR1, raise_signalled)
    try:
        stages = Stages(thread_prefix="signalled-")
        stages.start("polling", lambda: forever_until(stages.stop))
        stages.start("queued", lambda: stages.queue(1).get())
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        started = time.monotonic()
        with pytest.raises(Signalled):
            stages.wait()
        assert 0.15 < time.monotonic() - started < 0.2 + PROMPT_SECONDS / 2
        assert stages.stop_all() is True
        assert time.monotonic() - started < 0.2 + PROMPT_SECONDS
        assert alive_threads("signalled-") == []
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_stop_all_gives_up_on_a_stage_that_ignores_the_stop_event():
    stages = Stages(thread_prefix="stubborn-")
    release = threading.Event()
    stages.start("stubborn", lambda: release.wait(5))
    started = time.monotonic()
    assert stages.stop_all() is False
    assert time.monotonic() - started < PROMPT_SECONDS
    release.set()


def test_a_cleanup_waits_for_a_stage_that_outlived_the_stop_and_runs_once_it_ends():
    """What a stopped job closes (its output) is closed by the last stage to end; it was left open
    for good (a descriptor and a deleted partial's disk space for each run cancelled mid-batch)."""
    stages = Stages(thread_prefix="stubborn-")
    release = threading.Event()
    stages.start("stubborn", lambda: release.wait(5))
    stages.start("prompt", lambda: stages.stop.wait(5))
    cleaned: list[str] = []
    assert stages.stop_all() is False
    stages.when_ended(lambda: cleaned.append(threading.current_thread().name))
    assert cleaned == []
    release.set()
    deadline = time.monotonic() + PROMPT_SECONDS
    while not cleaned and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cleaned == ["stubborn-stubborn"]
    stages.when_ended(lambda: cleaned.append("now"))  # all ended: at once, in the caller's thread
    assert cleaned == ["stubborn-stubborn", "now"]


def test_a_stage_still_running_after_a_signal_interrupted_the_wait_counts_as_running():
    """Python 3.11 marks a thread as ended when a signal's exception interrupts its join(): stop_all
    said every stage had stopped while the writer still muxed, and the job closed the output under
    it (a segmentation fault)."""

    def raise_signalled(signum, frame):
        raise Signalled

    previous = signal.signal(signal.SIGUSR1, raise_signalled)
    release = threading.Event()
    try:
        stages = Stages(thread_prefix="busy-")
        stages.start("writer", lambda: release.wait(5))  # a final flush: does not look at the stop event
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        with pytest.raises(Signalled):
            stages.wait()
        assert stages.stop_all() is False and stages.running
    finally:
        release.set()
        signal.signal(signal.SIGUSR1, previous)
    deadline = time.monotonic() + PROMPT_SECONDS
    while stages.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not stages.running
