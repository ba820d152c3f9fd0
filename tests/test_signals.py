"""Signals and the output target: SIGINT, SIGTERM and SIGHUP stop `vsr` at any moment with one line
and exit 128 + signal, leaving nothing; partial files of killed runs are removed by the next run,
those of live runs are left alone, and a second run to a target that a live run writes fails at once.

The real-signal tests run `python -m vsr upscale` in a subprocess on one clip made per module
(long enough to be mid-run when signalled: 250 frames, x4, `--preset slow`).
"""

from __future__ import annotations

import importlib.machinery
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from videoclips import ClipSpec, listing, read_video, write_clip
from vsr.cli import signals
from vsr.cli.signals import Interrupted
from vsr.errors import OutputError
from vsr.pipeline.run import upscale_video

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
LINES = {signal.SIGINT: "vsr: interrupted", signal.SIGTERM: "vsr: terminated", signal.SIGHUP: "vsr: hung up"}
STOP_SECONDS = 2.0
"""How soon after the signal the process must have ended: a second, and a second of slack for a
loaded test machine."""


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("signals") / "long.mp4", ClipSpec(width=96, height=72, frames=250))


def start_upscale(clip: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vsr", "upscale", str(clip), "-o", str(out), "-s", "4", "-q",
         "-m", "bicubic", "--preset", "slow"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )


def wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run ended or never got {what}: {proc.communicate()}")
        time.sleep(0.005)


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".partial" in p.name]


def writing(folder: Path) -> bool:
    """Whether a run is mid-way: its partial file has the container header and some frames."""
    return any(p.stat().st_size > 0 for p in partials(folder))


def handlers_installed(pid: int) -> bool:
    """Whether the process catches SIGTERM yet (the first thing the vsr entry point does)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def signal_and_wait(proc: subprocess.Popen, signum: int) -> tuple[str, float]:
    """Send `signum`; return stderr and the seconds until the process ended."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return stderr, time.monotonic() - sent


def assert_stopped_cleanly(proc: subprocess.Popen, signum: int, stderr: str, seconds: float, folder: Path) -> None:
    assert proc.returncode == EXIT_CODES[signum], stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [LINES[signum]]
    assert listing(folder) == []  # no partial file, no output
    assert seconds < STOP_SECONDS, f"ended {seconds:.2f} s after the signal"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_a_signal_mid_run_stops_with_one_line_and_leaves_nothing(long_clip, tmp_path, signum):
    proc = start_upscale(long_clip, tmp_path / "out.mp4")
    wait_until(lambda: writing(tmp_path), proc, "to writing frames")
    stderr, seconds = signal_and_wait(proc, signum)
    assert_stopped_cleanly(proc, signum, stderr, seconds, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "delay"),
    [(signal.SIGINT, 0.0), (signal.SIGINT, 0.3), (signal.SIGTERM, 0.1), (signal.SIGHUP, 0.5)],
    ids=["INT+0.0", "INT+0.3", "TERM+0.1", "HUP+0.5"],
)
def test_a_signal_during_start_up_is_one_line_too(long_clip, tmp_path, signum, delay):
    """Signalled while typer, torch and the model load (`delay` seconds after the entry point
    installed its handlers, itself some 50 ms after the process started): no traceback."""
    proc = start_upscale(long_clip, tmp_path / "out.mp4")
    wait_until(lambda: handlers_installed(proc.pid), proc, "to its entry point", timeout=10.0)
    time.sleep(delay)
    assert not writing(tmp_path), "already mid-run: this test would prove less than it says"
    stderr, seconds = signal_and_wait(proc, signum)
    assert_stopped_cleanly(proc, signum, stderr, seconds, tmp_path)


@pytest.mark.slow
def test_a_live_runs_partial_blocks_a_second_run_and_a_killed_ones_is_removed_by_the_next(
    long_clip, tmp_path, make_clip, caplog
):
    """The first run's lock holds while PyAV writes the same file through descriptors of its own:
    a second run to its target fails at once and the first goes on. Once it is killed (SIGKILL:
    no cleanup), its partial file stays until the next run to the target removes it."""
    target, short = tmp_path / "out.mp4", make_clip("short.mp4", frames=3)
    proc = start_upscale(long_clip, target)
    try:
        wait_until(lambda: writing(tmp_path), proc, "to writing frames")
        started = time.monotonic()
        with pytest.raises(OutputError, match=f"another vsr run \\(pid {proc.pid}\\) is writing {target}"):
            upscale_video(short, target, scale=2, model="bicubic")
        assert time.monotonic() - started < 1.0
        assert proc.poll() is None and writing(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    left = partials(tmp_path)
    assert len(left) == 1 and f".vsr-{proc.pid}-" in left[0].name
    caplog.set_level(logging.INFO, logger="vsr")
    upscale_video(short, target, scale=2, model="bicubic")
    assert listing(tmp_path) == ["out.mp4", "short.mp4"]
    assert f"removed 1 stale partial file(s) of {target} from interrupted runs" in caplog.messages


@pytest.mark.slow
def test_the_entry_point_imports_neither_torch_nor_typer():
    """What `vsr` imports before it installs its signal handlers: little, so that it answers a signal
    from the start (and `vsr --help` starts fast)."""
    code = "import sys, vsr, vsr.cli; print(sorted({'torch', 'typer', 'av'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_the_library_installs_no_signal_handlers(make_clip, tmp_path):
    before = {signum: signal.getsignal(signum) for signum in EXIT_CODES}
    upscale_video(make_clip("in.mp4", frames=3), tmp_path / "out.mp4", scale=2, model="bicubic")
    assert {signum: signal.getsignal(signum) for signum in EXIT_CODES} == before


@pytest.fixture
def handler(monkeypatch) -> signals._Handler:
    """A handler whose deadline (shortened) records instead of ending the test process."""
    stopped: list[BaseException] = []
    monkeypatch.setattr(signals, "stop_now", lambda exc, flush=True: stopped.append(exc))
    monkeypatch.setattr(signals, "DEADLINE_SECONDS", 0.1)
    handler = signals._Handler()
    handler.stopped = stopped
    return handler


def test_the_handler_raises_once_then_ignores_repeats_until_its_deadline(handler):
    with pytest.raises(Interrupted) as raised:
        handler(signal.SIGTERM, sys._getframe())
    assert raised.value.exit_code == 143 and raised.value.line == "vsr: terminated"
    handler(signal.SIGINT, sys._getframe())  # a second Ctrl-C during the cleanup: no second exception
    time.sleep(0.5)
    assert handler.stopped == [raised.value]  # a cleanup that hangs (or a lost exception) still ends


def create_module(self):  # as ExtensionFileLoader.create_module is on the stack
    return sys._getframe()


def importing_frame(*, from_library: bool):
    """The frame of a compiled module's initialisation, imported from a function of the library
    (work may have started: files to clean up) or only from modules being imported."""
    loader = importlib.machinery.ExtensionFileLoader("compiled", "/nowhere/compiled.so")
    if not from_library:
        return create_module(loader)
    namespace = {"create_module": create_module}
    exec(compile("def work(loader):\n    return create_module(loader)\n",
                 os.path.join(signals.LIBRARY, "pipeline", "run.py"), "exec"), namespace)
    return namespace["work"](loader)


def test_a_signal_during_a_compiled_modules_initialisation_is_raised_after_it(handler, monkeypatch):
    """C code that initialises a compiled module clears errors: an exception raised there is lost."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: sent.append((pid, signum)))
    monkeypatch.setattr(signals, "DEADLINE_SECONDS", 5.0)  # not what this test is about
    handler(signal.SIGHUP, importing_frame(from_library=True))  # no exception now...
    for _ in range(100):
        if sent:
            break
        time.sleep(0.01)
    assert sent == [(os.getpid(), signal.SIGHUP)] and handler.stopped == []  # ...the signal comes again a moment later
    with pytest.raises(Interrupted):
        handler(signal.SIGHUP, sys._getframe())


def test_a_signal_while_the_command_imports_its_modules_ends_at_once(handler, monkeypatch):
    """Nothing of the library runs yet, so nothing needs cleaning up: waiting for torch's C
    extension to finish loading took 1.6–1.8 s, past the second a stop may take."""
    monkeypatch.setattr(os, "kill", lambda pid, signum: None)
    handler(signal.SIGTERM, importing_frame(from_library=False))
    assert [exc.line for exc in handler.stopped] == ["vsr: terminated"]


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [(KeyboardInterrupt(), 130, "vsr: interrupted"), (Interrupted(signal.SIGHUP), 129, "vsr: hung up")],
)
def test_as_interrupted_maps_ctrl_c_and_signals_to_a_code_and_a_line(exc, code, line):
    interrupted = signals.as_interrupted(exc)
    assert (interrupted.exit_code, interrupted.line) == (code, line)


def test_a_signal_during_teardown_after_the_command_ends_quietly_with_its_code():
    script = (
        "import atexit, os, signal\n"
        "from vsr.cli.signals import end_quietly_on_signals, install_handlers\n"
        "install_handlers()\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))  # arrives during teardown\n"
        "end_quietly_on_signals()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 143
    assert "Exception" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_signal_the_process_was_started_ignoring_stays_ignored():
    """nohup ignores SIGHUP (and a shell SIGINT for a job it starts with &): vsr replaced that with its
    own handler, and the hang-up it was to survive ended the run ("vsr: hung up", nothing written)."""
    script = (
        "import os, signal, time\n"
        "from vsr.cli.signals import install_handlers\n"
        "install_handlers()\n"
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "time.sleep(0.2)\n"
        "print('ran on')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert proc.returncode == 0 and proc.stdout.strip() == "ran on", proc.stderr
    after = script.replace("os.kill", "from vsr.cli.signals import end_quietly_on_signals\nend_quietly_on_signals()\nos.kill")
    proc = subprocess.run([sys.executable, "-c", after], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert proc.returncode == 0 and proc.stdout.strip() == "ran on", proc.stderr  # after the command: exit 129


def test_a_closed_stderr_is_no_descriptor_for_the_output(make_clip, tmp_path):
    """`vsr ... 2>&-`: the first file vsr opened got descriptor 2, so what FFmpeg or an encoder said
    on stderr went into it (the output's partial, perhaps); and Ray refused: "sys.stderr is None"."""
    source = make_clip("in.mp4", frames=3)
    script = (
        "import os, sys\n"
        f"sys.argv = ['vsr', 'upscale', {str(source)!r}, '-o', {str(tmp_path / 'out.mp4')!r}, '-s', '2', '-m', 'bicubic']\n"
        "from vsr.cli import main\n"
        "import atexit\n"
        "atexit.register(lambda: os.write(1, (os.readlink('/proc/self/fd/2') + '|' + str(sys.stderr is not None)).encode()))\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, timeout=120,
                          preexec_fn=lambda: os.close(2))
    assert proc.returncode == 0
    assert proc.stdout.endswith(f"{os.devnull}|True")
    assert len(read_video(tmp_path / "out.mp4").lumas) == 3


def test_a_signal_whose_exception_python_ignores_is_raised_again_at_once():
    """A signal while Python runs a callback whose exceptions it only reports (a weakref callback:
    importlib's module locks have one, and CI's start-up signal landed there): the exception was
    lost with a traceback ("Exception ignored in ..."), and the process ended only at the 2.5 s
    deadline. Now it is raised again where it can stop the command, with its one line."""
    script = (
        "import os, sys, time, weakref\n"
        "from vsr.cli.signals import Interrupted, install_handlers, stop_now\n"
        "install_handlers()\n"
        "class Thing: pass\n"
        "def callback(_ref):\n"
        "    print('in the callback', flush=True)\n"
        "    time.sleep(5)\n"
        "thing = Thing()\n"
        "ref = weakref.ref(thing, callback)\n"
        "try:\n"
        "    del thing\n"
        "    time.sleep(5)\n"
        "    print('ran on')\n"
        "except Interrupted as exc:\n"
        "    stop_now(exc)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "in the callback"
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and stderr.splitlines() == ["vsr: interrupted"], stderr
    assert time.monotonic() - start < 1.5  # not the deadline's end
