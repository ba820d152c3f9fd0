"""vsr.segments.distributed: segments on Ray give the same file as the sequential segmented run.

One small local Ray instance serves the whole test session (starting one costs seconds); the
runner finds it initialised and uses it as it is. A runner starting its own instance is tested
with ray.init and ray.shutdown stood in for (a real start takes about 11 s here).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from test_segments_join import CLIP, LOSSLESS
from videoclips import audio_packets, raw_planes, read_video
from vsr.segments.run import default_work_dir, upscale_in_segments
from vsr.segments.worker import SegmentTask, upscale_checked

SECONDS = 0.5  # three segments of the 40-frame clip
FLAGS = ("--scale", "2", "--model", "bicubic", "--crf", "0", "-q")


@pytest.fixture(scope="session")
def ray_session():
    """The session's Ray instance (2 CPUs, a small object store)."""
    ray = pytest.importorskip("ray")
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024, logging_level=logging.WARNING)
    for signum, handler in handlers.items():  # ray.init installs its own SIGTERM handler
        signal.signal(signum, handler)
    yield
    ray.shutdown()


@pytest.fixture
def source(make_clip) -> Path:
    return make_clip("in.mp4", **CLIP)


@pytest.fixture
def sequential(source: Path, tmp_path: Path) -> Path:
    return upscale_in_segments(source, tmp_path / "sequential.mp4", LOSSLESS, segment_seconds=SECONDS).output


def fingerprint(path: Path) -> tuple[list[str], list[int], list[list[bytes]]]:
    """Per-frame hashes of every plane, the pts, and the audio packets' bytes."""
    hashes = [hashlib.sha256(b"".join(p.tobytes() for p in planes)).hexdigest() for planes in raw_planes(path)]
    return hashes, read_video(path, keep_lumas=False).pts, audio_packets(path)


def test_two_workers_write_what_the_sequential_segmented_run_writes(ray_session, cli, source, sequential, tmp_path):
    target = tmp_path / "ray.mp4"
    result = cli("upscale", source, "-o", target, *FLAGS, "--workers", "2", "--segment-seconds", SECONDS)
    assert result.exit_code == 0, result.stderr
    hashes, pts, audio = fingerprint(target)
    assert (hashes, pts, audio) == fingerprint(sequential)
    assert len(pts) == 40 and audio == audio_packets(source)
    assert not default_work_dir(target).exists()


def dying_once(segment: int, marker: Path):
    """upscale_checked, but the first worker to take segment `segment` (the one that removes the
    file `marker`) ends its process at its first frame, as a crash would. A nested function: Ray
    pickles it to the workers by value (this test module is not importable there)."""

    def upscale(task: SegmentTask, *, progress=None):
        def report(written: int, total: int | None) -> None:
            if task.segment.index == segment:
                try:
                    marker.unlink()
                except FileNotFoundError:
                    pass
                else:
                    os._exit(1)
            progress(written, total)

        return upscale_checked(task, progress=report)

    return upscale


def test_what_rays_raylet_says_goes_to_stderr_not_to_stdout(ray_session, monkeypatch, capfd):
    """"A worker died... retries remaining" came on stdout, amid a folder run's per-file lines."""
    import ray

    from vsr.segments import distributed

    worker = ray._private.worker
    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # put back after the test
    with distributed.RayRunner(workers=2, device="cpu") as runner:
        runner.connect()
        worker.print_to_stdstream({"lines": ["A worker died or was killed while executing a task"], "pid": "raylet",
                                   "is_err": False}, ignore_prefix=False)
    out, err = capfd.readouterr()
    assert "A worker died" in err and "A worker died" not in out


def test_a_killed_worker_is_retried_and_the_output_is_unchanged(ray_session, source, sequential, tmp_path):
    from vsr.segments.distributed import RayRunner

    marker = tmp_path / "kill-segment-1"
    marker.touch()
    reports: list[tuple[int, int | None]] = []
    with RayRunner(workers=2, upscale=dying_once(1, marker)) as runner:
        result = upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, runner=runner,
                                     progress=lambda done, total: reports.append((done, total)))
    assert not marker.exists()  # a worker took it and died
    assert result.frames == 40 and fingerprint(result.output) == fingerprint(sequential)
    assert reports[-1] == (40, 40)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failure needs a machine without CUDA")
def test_device_cuda_without_cuda_fails_before_ray_and_before_any_work_folder(cli, source, tmp_path, monkeypatch):
    from vsr.segments import distributed

    monkeypatch.setattr(distributed.ray, "init", lambda **_: pytest.fail("Ray was started"))
    target = tmp_path / "out.mp4"
    result = cli("upscale", source, "-o", target, *FLAGS, "--workers", "2", "--device", "cuda")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "vsr: error: --device cuda was asked for but no CUDA device is available; use --device cpu"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_device_cuda_on_a_cluster_without_gpus_is_one_line(ray_session, monkeypatch):
    from vsr.errors import ConfigError
    from vsr.segments import distributed

    monkeypatch.setattr(distributed, "choose_device", lambda device: None)  # as if this machine had CUDA
    with distributed.RayRunner(workers=2, device="cuda") as runner:
        with pytest.raises(ConfigError, match=r"^--device cuda was asked for but the Ray cluster has no GPU; use --device cpu$"):
            runner.connect()


def failing(message: str):
    """upscale_checked's place taken by a worker that fails every segment with a VsrError."""

    def upscale(task: SegmentTask, *, progress=None):
        from vsr.errors import ConfigError

        raise ConfigError(message)

    return upscale


def test_a_failing_worker_fails_the_job_with_its_error_and_leaves_nothing(ray_session, source, tmp_path):
    from vsr.errors import ConfigError
    from vsr.segments.distributed import RayRunner

    target = tmp_path / "out.mp4"
    with RayRunner(workers=2, upscale=failing("the model file is damaged")) as runner:
        with pytest.raises(ConfigError, match="^the model file is damaged$"):
            upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, runner=runner)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no segment finished: no work folder to resume


def test_a_folder_spreads_over_the_workers_and_says_what_became_of_each_file(ray_session, cli, make_clip, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    make_clip("in/good.mp4", **CLIP)
    make_clip("in/existing.mkv", **CLIP)
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (folder / "notes.txt").write_text("not a video either")
    out.mkdir()
    (out / "existing.mkv").write_bytes(b"an earlier result")
    result = cli("upscale", folder, "-o", out, *FLAGS, "--workers", "2", "--segment-seconds", SECONDS)
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["failed", "broken.mp4:"], ["skipped", "existing.mkv:"], ["done", "good.mp4"]]
    assert lines[2].endswith("(40 frames)")
    assert (out / "existing.mkv").read_bytes() == b"an earlier result"
    assert len(read_video(out / "good.mp4", keep_lumas=False).pts) == 40
    assert sorted(p.name for p in out.iterdir()) == ["existing.mkv", "good.mp4"]


def test_without_ray_workers_say_how_to_install_it(cli, source, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "vsr.segments.distributed", raising=False)
    result = cli("upscale", source, "-o", tmp_path / "out.mp4", *FLAGS, "--workers", "2")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["vsr: error: --workers and --ray-address need Ray (the ray extra: pip install '.[ray]' in the vsr checkout)"]
    assert not (tmp_path / "out.mp4").exists()


def test_a_dead_cluster_address_fails_at_once_with_one_line(monkeypatch):
    pytest.importorskip("ray")
    import socket

    from vsr.errors import ConfigError
    from vsr.segments import distributed

    with socket.socket() as closed:  # a port that takes no connection
        closed.bind(("127.0.0.1", 0))
        address = f"ray://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setattr(distributed.ray, "is_initialized", lambda: False)
        with pytest.raises(ConfigError, match=rf"^cannot reach the Ray cluster at {address}: "):
            distributed.RayRunner(address=address).connect()


def test_rays_advice_is_given_in_vsrs_words(monkeypatch):
    pytest.importorskip("ray")
    from vsr.errors import ConfigError
    from vsr.segments import distributed

    def init(**kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to by "
                              "setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setattr(distributed.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.ray, "init", init)
    with pytest.raises(ConfigError, match=r"by giving --ray-address or `RAY_ADDRESS` environment variable\.$"):
        distributed.RayRunner(address="auto").connect()


def test_rays_own_warnings_do_not_reach_the_user_before_vsrs_line(monkeypatch):
    """A timed-out ray:// address printed Ray's two-line UserWarning, then vsr's one line saying the same."""
    pytest.importorskip("ray")
    import warnings

    from vsr.errors import ConfigError
    from vsr.segments import distributed

    def init(**kwargs):
        warnings.warn("Ray Client connection timed out. Ensure that the Ray Client port on the head node is reachable")
        raise ConnectionError("ray client connection timeout")

    monkeypatch.setattr(distributed.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.ray, "init", init)
    monkeypatch.setattr(distributed, "_check_reachable", lambda address: None)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="ray client connection timeout"):
            distributed.RayRunner(address="ray://head:10001").connect()
    assert shown == []


def test_a_runner_starts_its_own_local_instance_and_stops_it_at_close(monkeypatch):
    """Its own even where a cluster runs on the machine or RAY_ADDRESS names one (without address
    "local", ray.init joined it and refused the CPU count: --workers failed)."""
    pytest.importorskip("ray")
    from vsr.segments import distributed

    calls: list[tuple[str, dict]] = []
    signature = inspect.signature(distributed.ray.init)
    running = {"ray": False}

    def init(**kwargs):
        signature.bind(**kwargs)  # what ray.init takes
        calls.append(("init", kwargs))
        running["ray"] = True

    def shutdown():
        calls.append(("shutdown", {}))
        running["ray"] = False

    monkeypatch.setattr(distributed.ray, "is_initialized", lambda: running["ray"])
    monkeypatch.setattr(distributed.ray, "init", init)
    monkeypatch.setattr(distributed.ray, "shutdown", shutdown)
    monkeypatch.setattr(distributed.ray, "cluster_resources", lambda: {"CPU": 4.0})
    monkeypatch.setattr(distributed.os, "cpu_count", lambda: 4)
    with distributed.RayRunner(workers=2, device="cpu") as runner:
        runner.connect()
        runner.connect()  # once
        assert runner.device == "cpu" and runner._resources == {"num_cpus": 2}
    assert calls == [
        ("init", dict(address="local", num_cpus=4, num_gpus=0, object_store_memory=distributed.OBJECT_STORE_BYTES,
                      include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)),
        ("shutdown", {}),
    ]

    calls.clear()
    running["ray"] = True  # a Ray this process already runs: used, and left running
    with distributed.RayRunner(workers=2, device="cpu") as runner:
        runner.connect()
    assert calls == [] and running["ray"]


class Terminated(BaseException):
    """What the command's SIGTERM handler raises (vsr.cli.signals.Interrupted)."""


def test_sigterm_while_ray_starts_reaches_the_commands_handler_and_stops_what_ray_started(monkeypatch):
    """Ray's own SIGTERM handler took it (sys.exit(15): exit code 15, no message) and the processes
    it had started were left running."""
    pytest.importorskip("ray")
    import signal
    import subprocess
    import sys

    from vsr.segments import distributed

    calls: list[str] = []

    started: list[subprocess.Popen] = []

    def init(**kwargs):  # as ray.init: its own handler, a process started, then the signal arrives
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        calls.append("init")
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # ray::agent"]))
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # another thread's"]))
        signal.raise_signal(signal.SIGTERM)

    def terminated(signum, frame):
        raise Terminated

    monkeypatch.setattr(distributed.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.ray, "init", init)
    monkeypatch.setattr(distributed.ray, "shutdown", lambda: calls.append("shutdown"))
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        with pytest.raises(Terminated):
            distributed.RayRunner(workers=2, device="cpu").connect()
        assert signal.getsignal(signal.SIGTERM) is terminated
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == ["init", "shutdown"]
    assert started[0].wait(timeout=5) is not None  # ended, not left to run on (Ray's agents ran a minute)
    assert started[1].poll() is None  # a process not Ray's is left alone
    started[1].kill()


def test_sigterm_mid_run_stops_the_workers_keeps_the_work_folder_and_resume_finishes(
    ray_session, cli, source, sequential, tmp_path, monkeypatch
):
    """What the CLI's SIGTERM handler raises in the main thread, raised from the progress callback
    once a segment is finished: exit 143 with one line, no output, the work folder kept; --resume
    then finishes the job with the output of a sequential run."""
    from vsr.cli.signals import Interrupted
    from vsr.segments.manifest import Manifest

    import vsr.cli.common

    real_update = vsr.cli.common.ProgressBar.update

    def update(self, done, total):
        work = default_work_dir(target)
        if (work / "manifest.json").exists() and len(Manifest.load(work).pending) < 3:
            raise Interrupted(signal.SIGTERM)

    target = tmp_path / "out.mp4"
    monkeypatch.setattr(vsr.cli.common.ProgressBar, "update", update)
    flags = ("--workers", "2", "--segment-seconds", str(SECONDS), "-m", "bicubic", "-s", "2", "--crf", "0")
    stopped = cli("upscale", source, "-o", target, *flags, "-q")
    assert stopped.exit_code == 143
    assert [line for line in stopped.stderr.splitlines() if line.strip()] == ["vsr: terminated"]
    assert not target.exists() and default_work_dir(target).is_dir()
    monkeypatch.setattr(vsr.cli.common.ProgressBar, "update", real_update)
    for _ in range(40):  # a killed worker can hold its segment's lock a moment longer: resume says so, and waits are fine
        resumed = cli("upscale", source, "-o", target, *flags, "--resume", "-q")
        if "another vsr run" not in resumed.stderr:
            break
        time.sleep(0.25)
    assert resumed.exit_code == 0, resumed.stderr
    assert fingerprint(target) == fingerprint(sequential)
    assert not default_work_dir(target).exists()


def test_a_changed_input_travels_back_from_a_worker_as_what_it_is():
    """It came back a bare VsrError: the driver's handling of a changed input (its work removed) never ran."""
    from vsr.segments.distributed import Failure
    from vsr.segments.worker import SourceChanged

    assert type(Failure.of(None, SourceChanged("in.mp4 changed during the run")).error()) is SourceChanged
