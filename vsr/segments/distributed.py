"""Segments on Ray: `vsr upscale IN --workers N` (a local Ray instance) or `--ray-address
auto|ray://HOST:10001` (an existing cluster). The one module that imports ray.

Only segment descriptions (vsr.segments.worker.SegmentTask: paths, the plan's pts, the options)
and small results (SegmentResult, or a failure's class and message) travel through Ray, never
frames: each worker decodes its segment from the input and writes its segment file into the work
folder itself, so on a cluster the input, the work folder and the output must be on a filesystem
that every node sees at the same path, and vsr must be installed on every node. The driver
(vsr.segments.run) keeps the manifests. A worker process that dies (killed, out of memory, a lost
node) is retried by Ray (MAX_RETRIES): the segment is redone from its start, into a fresh
temporary file, so the output is the same.

    with RayRunner(workers=2) as runner:
        upscale_in_segments(source, target, options, segment_seconds=None, runner=runner)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import psutil
import ray
import torch

from vsr.device import choose_device
from vsr.errors import ConfigError, InputError, OutputError, PipelineError, UnsupportedModelError, VsrError
from vsr.pipeline.run import Progress
from vsr.segments.run import Outcome
from vsr.segments.worker import SegmentResult, SegmentTask, SourceChanged, upscale_checked

log = logging.getLogger(__name__)

OBJECT_STORE_BYTES = 128 * 1024 * 1024
"""The object store of a local instance: only small descriptions and results pass through it."""
MAX_RETRIES = 3
"""How often Ray reruns a segment whose worker process died."""
CANCEL_WAIT_SECONDS = 3.0
"""How long a stopped run waits for the worker processes of its cancelled segments to end."""
CONNECT_SECONDS = 5.0
"""How long joining a cluster may wait for its address to answer at all."""
PROGRESS_SECONDS = 0.5
"""How often workers report their frames, and the driver looks at them."""

_ERRORS: dict[str, type[VsrError]] = {
    cls.__name__: cls for cls in (SourceChanged, InputError, OutputError, UnsupportedModelError, ConfigError, VsrError)
}


@dataclass(frozen=True)
class Failure:
    """A segment's error as it travels back to the driver: the vsr.errors class name, the
    PipelineError stage (or None) and the message."""

    kind: str
    stage: str | None
    message: str

    @classmethod
    def of(cls, task: SegmentTask, exc: BaseException) -> Failure:
        if isinstance(exc, PipelineError):
            return cls("PipelineError", exc.stage, str(exc).removeprefix(exc.stage + ": "))
        if isinstance(exc, VsrError):
            return cls(type(exc).__name__ if type(exc).__name__ in _ERRORS else "VsrError", None, str(exc))
        return cls("PipelineError", task.stage, f"{type(exc).__name__}: {exc}")

    def error(self) -> VsrError:
        if self.kind == "PipelineError":
            return PipelineError(self.stage or "segment", self.message)
        return _ERRORS.get(self.kind, VsrError)(self.message)


@ray.remote(num_cpus=0)
class _Progress:
    """Frames written so far by each running segment, keyed by (job, segment index)."""

    def __init__(self) -> None:
        self.frames: dict[tuple[int, int], int] = {}

    def report(self, key: tuple[int, int], frames: int) -> None:
        self.frames[key] = frames

    def snapshot(self) -> dict[tuple[int, int], int]:
        return dict(self.frames)


class Upscale(Protocol):
    """What a worker runs on a task: upscale_checked, or (tests) a function wrapping it."""

    def __call__(self, task: SegmentTask, *, progress: Progress | None = None) -> SegmentResult: ...


@ray.remote
def _upscale(task: SegmentTask, progress: ray.actor.ActorHandle, upscale: Upscale) -> SegmentResult | Failure:
    """One segment in a Ray worker: `upscale` (upscale_checked), its progress sent to the driver's tracker."""
    key = (task.job, task.segment.index)
    last = 0.0

    def report(written: int, _total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_SECONDS:
            last = now
            progress.report.remote(key, written)

    try:
        return upscale(task, progress=report)
    except Exception as exc:  # back as a value: exceptions with their own __init__ do not always unpickle
        return Failure.of(task, exc)


class RayRunner:
    """Segments on Ray (vsr.segments.run.Runner). `workers`: segments at once (None on a cluster:
    as many as its resources take); `address`: None to start a local instance with `workers`
    workers (their CPUs shared out, one GPU each where there are GPUs and `device` allows),
    or an existing cluster's ("auto", "ray://HOST:10001"). Ray starts on first use and stops (or
    disconnects) at close(); a Ray already initialised in this process is used as it is, and
    left running. `upscale`: what each worker runs on a task (upscale_checked; tests wrap it, and
    Ray pickles it to the workers with each task)."""

    local = False

    def __init__(
        self, workers: int | None = None, address: str | None = None, device: str = "auto", *,
        upscale: Upscale = upscale_checked,
    ) -> None:
        if workers is None and address is None:
            raise ConfigError("a local Ray instance needs a number of workers")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        if address is None:
            choose_device(device)  # a local instance has this machine's devices: --device cuda without one fails now
        self._workers = workers
        self.address = address
        self.requires_gpu = device == "cuda"
        self.wants_gpu = device != "cpu"
        self._connected = False
        self._owned = False
        self.started_seconds = 0.0
        """How long starting (or joining) Ray took."""
        self._resources: dict[str, float] = {}
        self._upscale = upscale

    # --- the cluster -----------------------------------------------------------------------

    @property
    def workers(self) -> int:
        """Segments at once: as asked, or on a cluster without a number, what its resources take."""
        if self._workers is not None:
            return self._workers
        self.connect()
        per_task = self._resources
        total = ray.cluster_resources()
        if per_task.get("num_gpus"):
            return max(1, int(total.get("GPU", 0)))
        return max(1, int(total.get("CPU", 1) // per_task.get("num_cpus", 1)))

    @property
    def device(self) -> str:
        """What the segments run on: "cuda" where each worker takes a GPU, else "cpu" (before Ray
        is started: what a local instance would give)."""
        if not self._connected:
            return "cuda" if self.wants_gpu and torch.cuda.is_available() else "cpu"
        return "cuda" if self._resources.get("num_gpus") else "cpu"

    def connect(self) -> None:
        """Start the local instance or join the cluster (once); ConfigError where that fails."""
        if self._connected:
            return
        started = time.perf_counter()
        if ray.is_initialized():
            log.debug("using the Ray instance this process already runs")
        else:
            children = _child_processes()
            with _signals_kept(), warnings.catch_warnings(record=True) as caught:  # Ray's say what vsr's line says
                warnings.simplefilter("always")
                try:
                    if self.address is None:
                        ray.init(**self._local_instance())
                    else:
                        _check_reachable(self.address)
                        ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False)
                except Exception as exc:  # Ray raises ConnectionError, RuntimeError, gRPC errors...
                    where = "start a local Ray instance" if self.address is None else f"reach the Ray cluster at {self.address}"
                    raise ConfigError(f"cannot {where}: {_first_line(exc)}") from None
                except BaseException:  # a signal while Ray starts: the processes it has started go too
                    with contextlib.suppress(Exception):
                        ray.shutdown()  # (those it has not yet handed to its node, it leaves: its agents ran on for a minute)
                    for process in _child_processes().values():
                        if process.pid not in children and _is_rays(process):
                            with contextlib.suppress(psutil.Error):
                                process.kill()
                    raise
            for warning in caught:
                log.debug("Ray: %s", warning.message)
            self._owned = True
        _ray_messages_to_stderr()
        self._connected = True
        self.started_seconds = time.perf_counter() - started
        self._resources = self._task_resources()
        if self.requires_gpu and not self._resources.get("num_gpus"):
            raise ConfigError("--device cuda was asked for but the Ray cluster has no GPU; use --device cpu")
        log.info("Ray %s in %.1f s: each segment takes %s", "started" if self.address is None and self._owned else "joined",
                 self.started_seconds, " and ".join(f"{v:g} {k.removeprefix('num_')[:3].upper()}" for k, v in self._resources.items()))

    def _local_instance(self) -> dict:
        workers = self._workers or 1
        cpus = max(1, (os.cpu_count() or 1) // workers)
        gpus = min(workers, torch.cuda.device_count()) if self.wants_gpu and torch.cuda.is_available() else 0
        return dict(  # address "local": a new instance even where a cluster runs on this machine (or RAY_ADDRESS names one)
            address="local", num_cpus=workers * cpus, num_gpus=gpus, object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,  # vsr reports its workers' failures
        )

    def _task_resources(self) -> dict[str, float]:
        """One GPU (and a CPU) per segment where the cluster has GPUs and the device allows, else
        the cluster's CPUs shared out over the workers (one each without a number)."""
        total = ray.cluster_resources()
        if self.wants_gpu and total.get("GPU", 0) >= 1:
            return {"num_cpus": 1, "num_gpus": 1}
        if self._workers is None:
            return {"num_cpus": 1}
        return {"num_cpus": max(1, int(total.get("CPU", 1)) // self._workers)}

    def close(self) -> None:
        """Stop the local instance, or leave the cluster (a Ray this runner did not start stays)."""
        if self._owned:
            ray.shutdown()
        self._connected = self._owned = False

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the segments ----------------------------------------------------------------------

    def run(self, tasks: Sequence[SegmentTask], report: Callable[[int], None]) -> Iterator[tuple[SegmentTask, Outcome]]:
        """vsr.segments.run.Runner.run on Ray: at most `workers` segments submitted at once (all,
        on a cluster without a number), results taken as they finish; closing the iterator
        cancels the segments still running (their worker processes are ended)."""
        if not tasks:
            return
        self.connect()
        tracker = _Progress.remote()
        remote = _upscale.options(**self._resources, max_retries=MAX_RETRIES)
        queue = deque(tasks)
        running: dict[ray.ObjectRef, SegmentTask] = {}
        try:
            while queue or running:
                while queue and (self._workers is None or len(running) < self._workers):
                    task = queue.popleft()
                    running[remote.remote(task, tracker, self._upscale)] = task
                ready, _ = _interruptible(ray.wait, list(running), num_returns=1, timeout=PROGRESS_SECONDS)
                for ref in ready:
                    task = running.pop(ref)
                    yield task, _outcome(ref, task)
                report(_frames_running(tracker, running.values()))
        finally:
            for ref in running:
                with contextlib.suppress(Exception):  # one that finished meanwhile
                    ray.cancel(ref, force=True)
            with contextlib.suppress(Exception):  # the kills are asynchronous: see them through, briefly
                ray.wait(list(running), num_returns=len(running), timeout=CANCEL_WAIT_SECONDS)
            with contextlib.suppress(Exception):
                ray.kill(tracker)


def _outcome(ref: ray.ObjectRef, task: SegmentTask) -> Outcome:
    """The result of a finished task: its SegmentResult, or its error as a VsrError."""
    try:
        value = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the worker died MAX_RETRIES + 1 times, or Ray failed
        return PipelineError(task.stage, f"its Ray worker failed: {_first_line(exc)}")
    return value.error() if isinstance(value, Failure) else value


def _frames_running(tracker: ray.actor.ActorHandle, tasks: Iterable[SegmentTask]) -> int:
    """Frames written so far by the running `tasks`, as their workers last reported."""
    try:
        frames = _interruptible(ray.get, tracker.snapshot.remote(), timeout=PROGRESS_SECONDS)
    except ray.exceptions.GetTimeoutError:
        return 0
    return sum(frames.get((task.job, task.segment.index), 0) for task in tasks)


def _ray_messages_to_stderr() -> None:
    """Ray prints what its raylet says to the driver ("A worker died... retries remaining") on
    stdout, where a folder run writes what became of each file: on stderr instead, with vsr's own
    messages (vsr reports the failures that matter itself)."""
    worker = getattr(getattr(ray, "_private", None), "worker", None)
    printing = getattr(worker, "print_to_stdstream", None)
    if printing is None or getattr(printing, "vsr_stderr", False):
        return

    def to_stderr(data: dict, ignore_prefix: bool) -> None:
        printing({**data, "is_err": True}, ignore_prefix)

    to_stderr.vsr_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _child_processes() -> dict[int, psutil.Process]:
    """This process's children and theirs, by pid."""
    return {child.pid: child for child in psutil.Process().children(recursive=True)}


def _is_rays(process: psutil.Process) -> bool:
    """Whether `process` is one of Ray's (raylet, gcs_server, its agents and workers), by its command line."""
    try:
        return "ray" in " ".join(process.cmdline()).lower() or "ray" in process.name().lower()
    except psutil.Error:
        return False


class _signals_kept:
    """Restore the signal handlers that ray.init replaces (it installs its own SIGTERM handler in
    the driver), so that the command's stop on SIGTERM/SIGINT/SIGHUP still holds. A SIGTERM that
    Ray's handler took while Ray started (its sys.exit(15): no message, exit code 15) is given
    again to the handler restored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        self.saved = {s: signal.getsignal(s) for s in self.SIGNALS} if main else {}

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        for signum, handler in self.saved.items():
            if handler is not None:
                signal.signal(signum, handler)
        if isinstance(exc, SystemExit) and exc.code == signal.SIGTERM and callable(self.saved.get(signal.SIGTERM)):
            signal.raise_signal(signal.SIGTERM)


def _check_reachable(address: str) -> None:
    """Raise OSError unless the HOST:PORT of `address` ("HOST:PORT", "ray://HOST:PORT") takes a
    TCP connection within CONNECT_SECONDS: ray.init retries a dead address for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray itself will judge
    with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
        pass


def _interruptible(call: Callable, *args: object, **kwargs: object):
    """`call(*args, **kwargs)`, re-raising as it is an interruption (KeyboardInterrupt, the
    command's Interrupted) that a signal handler raised inside Ray's compiled code, which wraps it
    in a SystemError."""
    try:
        return call(*args, **kwargs)
    except SystemError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, BaseException) and not isinstance(cause, Exception):
            raise cause from None
        raise


def _first_line(exc: BaseException) -> str:
    """The first line of Ray's message, its advice in vsr's words (Ray's `--address` is vsr's `--ray-address`)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.replace("setting `--address` flag", "giving --ray-address")
