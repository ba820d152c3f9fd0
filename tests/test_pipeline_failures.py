"""Failures leave nothing behind and never hang; damaged input is upscaled as far as it decodes.

Faults are injected into each stage: the model (an SRModel whose module raises on its 3rd or
30th call, so the torch CPU engine runs it), the encoder/muxer and the decoder. Each must
surface as a PipelineError naming the stage, promptly (the other stages, blocked on a full or
empty queue, must notice the stop), with neither the output nor the temporary `.*.partial*`
file left in the folder, and no stage thread left running. A KeyboardInterrupt raised by the
progress callback (which runs on the caller's thread) likewise. Runs go through a thread with
a deadline, so a hang fails the test instead of blocking the suite.

Damaged input policy (vsr/media/decode.py): a packet that fails to decode is skipped with a
warning and the frames that do decode keep their own timestamps (a skipped frame shows as the
previous one held longer)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vsr
from vsr.errors import OutputError, PipelineError
from vsr.media import decode, mux
from videoclips import listing, read_index, read_video

FAST = {"model": "bicubic", "preset": "ultrafast"}
DEADLINE_SECONDS = 10.0
"""A hung pipeline is reported after this long (the runs themselves take well under a second)."""
PROMPT_SECONDS = 5.0
"""A failed run must have returned by then: about 0.1 s on an idle machine, slack for a busy CI."""


class RaisesOnCall(torch.nn.Module):
    """Nearest-neighbour x2 upsampling that raises on its `fail_on`-th forward call."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError(f"boom on call {self.calls}")
        return F.interpolate(x, scale_factor=2, mode="nearest")


def run_bounded(fn, *args, **kwargs):
    """Run fn in a thread; return (its return value or exception, seconds). Fails if it hangs."""
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(DEADLINE_SECONDS)
    assert not thread.is_alive(), f"upscale_video still running after {DEADLINE_SECONDS} s: the pipeline hangs"
    return outcome.get("error", outcome.get("value")), time.monotonic() - started


@pytest.fixture
def removed_temps(monkeypatch) -> list[tuple[str, bool]]:
    """(name, existed) of each temporary file the pipeline removes after a failure."""
    calls: list[tuple[str, bool]] = []
    original = mux.remove_quietly

    def remove_quietly(path):
        calls.append((path.name, path.exists()))
        original(path)

    monkeypatch.setattr(mux, "remove_quietly", remove_quietly)
    return calls


def assert_temp_was_removed(removed_temps, *, existed: bool = True) -> None:
    """The run cleaned up its `.<stem>.vsr-<hex>.partial<ext>` file (which, late in a run, existed)."""
    assert len(removed_temps) == 1
    name, was_there = removed_temps[0]
    assert name.startswith(".") and ".partial" in name
    if existed:
        assert was_there, "the failure came before the temporary file was created: the test proves less than it says"


def wait_for_stage_threads(timeout: float = 3.0) -> list[str]:
    """Names of pipeline threads (vsr-decode, vsr-upscale, vsr-encode) still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("vsr-") and t.is_alive()]
        if not alive:
            return []
        time.sleep(0.02)
    return alive


@pytest.mark.parametrize("fail_on", [3, 30])
def test_a_model_failure_is_a_pipeline_error_of_the_upscale_stage_and_leaves_nothing(
    make_clip, tmp_path, removed_temps, fail_on
):
    source = make_clip("in.mp4", frames=60)
    model = vsr.SRModel(name="boom", scale=2, module=RaisesOnCall(fail_on), supports_half=False, config=None)
    error, seconds = run_bounded(
        vsr.upscale_video, source, scale=2, model=model, device="cpu", precision="fp32", batch_size=1, queue_size=2,
        preset="ultrafast",
    )
    assert isinstance(error, PipelineError), error
    assert error.stage == "upscale"
    assert f"boom on call {fail_on}" in str(error)
    assert isinstance(error.__cause__, RuntimeError)
    assert seconds < PROMPT_SECONDS
    assert listing(tmp_path) == ["in.mp4"]
    assert_temp_was_removed(removed_temps, existed=fail_on > 3)
    assert wait_for_stage_threads() == []


def test_an_encoder_failure_is_a_pipeline_error_of_the_encode_stage_and_leaves_nothing(
    make_clip, tmp_path, monkeypatch, removed_temps
):
    source = make_clip("in.mkv", frames=60, audio=("opus",))
    original = mux.Muxer.write_frame

    def write_frame(self, frame):
        if self.frames == 20:
            raise RuntimeError("disk on fire")
        original(self, frame)

    monkeypatch.setattr(mux.Muxer, "write_frame", write_frame)
    error, seconds = run_bounded(vsr.upscale_video, source, scale=2, queue_size=2, batch_size=1, **FAST)
    assert isinstance(error, PipelineError), error
    assert error.stage == "encode"
    assert "disk on fire" in str(error)
    assert seconds < PROMPT_SECONDS
    assert listing(tmp_path) == ["in.mkv"]
    assert_temp_was_removed(removed_temps)
    assert wait_for_stage_threads() == []


def test_a_decoder_failure_is_a_pipeline_error_of_the_decode_stage_and_leaves_nothing(
    make_clip, tmp_path, monkeypatch, removed_temps
):
    source = make_clip("in.mp4", frames=60)
    original = decode.plane_arrays
    calls = {"n": 0}

    def plane_arrays(frame, layout):
        calls["n"] += 1
        if calls["n"] == 30:
            raise RuntimeError("bad frame memory")
        return original(frame, layout)

    monkeypatch.setattr(decode, "plane_arrays", plane_arrays)
    error, seconds = run_bounded(vsr.upscale_video, source, scale=2, queue_size=2, batch_size=1, **FAST)
    assert isinstance(error, PipelineError), error
    assert error.stage == "decode"
    assert "bad frame memory" in str(error)
    assert seconds < PROMPT_SECONDS
    assert listing(tmp_path) == ["in.mp4"]
    assert_temp_was_removed(removed_temps)
    assert wait_for_stage_threads() == []


def test_a_keyboard_interrupt_from_the_progress_callback_leaves_nothing(make_clip, tmp_path, removed_temps):
    source = make_clip("in.mp4", frames=60)
    def progress(done: int, total: int | None) -> None:
        if done >= 10:  # true at the latest in the final call, which reports every frame
            raise KeyboardInterrupt

    error, seconds = run_bounded(vsr.upscale_video, source, scale=2, queue_size=2, progress=progress, **FAST)
    assert isinstance(error, KeyboardInterrupt), error
    assert seconds < PROMPT_SECONDS
    assert listing(tmp_path) == ["in.mp4"]
    assert_temp_was_removed(removed_temps)
    assert wait_for_stage_threads() == []


def test_an_output_that_appears_while_upscaling_is_not_overwritten(make_clip, tmp_path):
    source = make_clip("in.mp4", frames=10)
    target = tmp_path / "out.mp4"

    def progress(done: int, total: int | None) -> None:
        if not target.exists():
            target.write_bytes(b"someone else's file")

    with pytest.raises(OutputError, match="appeared"):
        vsr.upscale_video(source, target, scale=2, progress=progress, **FAST)
    assert target.read_bytes() == b"someone else's file"
    assert listing(tmp_path) == ["in.mp4", "out.mp4"]


def decodable(path) -> list[int]:
    """Timestamps of the frames an independent decode gets out of `path`, skipping packets that fail."""
    timestamps = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for packet in container.demux(stream):
            try:
                timestamps += [frame.pts for frame in packet.decode()]
            except (av.FFmpegError, ValueError):
                pass
    return timestamps


def test_a_corrupt_packet_is_skipped_with_a_warning_and_the_rest_keeps_its_timestamps(make_clip, caplog):
    # Motion JPEG: every packet is a whole picture, so random bytes in packet 5 make exactly
    # that packet fail to decode (H.264 would conceal the damage silently).
    source = make_clip("broken.mkv", codec="mjpeg", pix_fmt="yuvj420p", frames=12, corrupt=(5,), audio=("opus",))
    with av.open(str(source)) as container:
        written = [p.pts for p in container.demux(video=0) if p.size]
    good = decodable(source)
    assert len(written) == 12 and len(good) == 11  # the fixture damaged one packet

    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, scale=2, **FAST)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("skipped a damaged video packet" in m for m in messages)
    assert any("damaged input" in m for m in messages)

    after = read_video(result.output)
    assert result.frames == len(after.pts) == len(good)
    assert after.pts == good
    assert set(after.pts) <= set(written)
    assert all(a < b for a, b in zip(after.pts, after.pts[1:]))
    assert [read_index(y, 64, 48) for y in after.lumas] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_a_frame_the_h264_decoder_drops_silently_is_reported_and_the_rest_stays_in_sync(make_clip, caplog):
    source = make_clip("concealed.mkv", frames=12)
    with av.open(str(source)) as container:
        packets = [(p.pts, p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    pts, pos, size = packets[3]
    data = bytearray(source.read_bytes())
    data[pos + 10 : pos + size] = np.random.default_rng(0).integers(0, 256, size - 10, dtype=np.uint8).tobytes()
    source.write_bytes(bytes(data))
    with av.open(str(source)) as container:  # the decoder raises no error for this damage ...
        good = [frame.pts for packet in container.demux(container.streams.video[0]) for frame in packet.decode()]
    assert pts not in good and len(good) == 11  # ... and drops the frame

    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(source, scale=2, **FAST)
    assert read_video(result.output).pts == good
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"dropped 1 damaged frame(s) without an error (missing pts: {pts})" in m for m in messages), messages
    assert any("1 frame(s) were lost in the decoder" in m for m in messages)


def test_a_clean_input_reports_no_lost_frames(make_clip, caplog):
    source = make_clip("clean.mp4", frames=12, audio=("aac",))
    with caplog.at_level(logging.WARNING, logger="vsr"):
        vsr.upscale_video(source, scale=2, **FAST)
    assert not [r for r in caplog.records if "damaged" in r.getMessage()]


def test_bytes_overwritten_in_the_middle_of_a_file_still_give_an_output(make_clip):
    """Damage the container and H.264 data alike: the run succeeds with the frames that decode,
    at their own timestamps. (Packets the demuxer loses go without a warning.)"""
    source = make_clip("hit.mkv", frames=20, audio=("aac",))
    data = bytearray(source.read_bytes())
    start = int(len(data) * 0.6)
    data[start : start + 200] = np.random.default_rng(7).integers(0, 256, 200, dtype=np.uint8).tobytes()
    source.write_bytes(bytes(data))
    good = decodable(source)
    assert 0 < len(good)

    result = vsr.upscale_video(source, scale=2, **FAST)
    after = read_video(result.output)
    assert result.frames == len(after.pts) == len(good)
    assert after.pts == good
    assert all(a < b for a, b in zip(after.pts, after.pts[1:]))
    assert set(after.pts) <= {40 * i for i in range(20)}


class SlowBatches(torch.nn.Module):
    """Nearest-neighbour x2 that takes `seconds` a call after its first `fast` calls, deaf to any
    stop (a long batch in C)."""

    def __init__(self, seconds: float, fast: int) -> None:
        super().__init__()
        self.seconds, self.fast = seconds, fast
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.fast:
            time.sleep(self.seconds)
        return F.interpolate(x, scale_factor=2, mode="nearest")


def open_partials() -> list[str]:
    """The partial files this process holds open (removed or not)."""
    folder = "/proc/self/fd"
    names = []
    for fd in os.listdir(folder):
        with contextlib.suppress(OSError):
            names.append(os.readlink(os.path.join(folder, fd)))
    return [name for name in names if ".partial" in name]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_run_stopped_mid_batch_closes_its_output_once_the_batch_ends(make_clip, tmp_path):
    """A stage still in a batch after the stop's grace: the output was never closed, a descriptor
    and the removed partial's disk space held for the life of the process."""
    source = make_clip("in.mp4", frames=30)
    model = vsr.SRModel(name="slow", scale=2, module=SlowBatches(1.5, fast=8), supports_half=False, config=None)

    def stop(done: int, total: int | None) -> None:
        if len(open_partials()) == 2:  # the reservation's lock and the output PyAV opened at its first packet
            raise KeyboardInterrupt

    error, _ = run_bounded(vsr.upscale_video, source, tmp_path / "out.mp4", scale=2, model=model, device="cpu",
                           precision="fp32", batch_size=1, queue_size=2, preset="ultrafast", progress=stop)
    assert isinstance(error, KeyboardInterrupt), "the output never opened: this test would prove less than it says"
    assert not wait_for_stage_threads(timeout=5.0)
    assert open_partials() == []
    assert listing(tmp_path) == ["in.mp4"]
