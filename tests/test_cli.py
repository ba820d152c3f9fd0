"""`vsr upscale` and `vsr bench` from the command line: exit codes, one-line errors, no leftovers.

Every bad input ends with a non-zero exit and exactly one line on stderr, `vsr: error: ...`,
with no traceback unless --debug is given. The runs use -q so that no progress bar or
informational line shares stderr with the error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import av
import pytest

import vsr
import vsr.cli.common
from conftest import REPO
from tinymodels import write_weight_file
from videoclips import audio_packets, listing, raw_planes, read_index, read_video
from vsr.cli.signals import Interrupted
from vsr.models import load_model_file

BICUBIC = ("-m", "bicubic", "--preset", "ultrafast")


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vsr: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_upscale_writes_the_default_output_and_reports_it(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=6, audio=("aac",))
    result = cli("upscale", source, "--scale", "2", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    target = tmp_path / "clip_x2.mp4"
    assert listing(tmp_path) == ["clip.mp4", "clip_x2.mp4"]
    assert "wrote" in result.stderr and str(target) in result.stderr
    facts = read_video(target)
    assert (facts.width, facts.height) == (128, 96)
    assert [read_index(y, 64, 48) for y in facts.lumas] == list(range(6))


def test_quiet_run_prints_nothing(cli, make_clip):
    source = make_clip("clip.mkv", frames=3)
    result = cli("upscale", source, "-s", "2", "-q", *BICUBIC)
    assert result.exit_code == 0
    assert result.stderr == "" and result.stdout == ""


def test_max_frames_makes_a_short_preview(cli, make_clip, tmp_path):
    source = make_clip("clip.mkv", frames=20, audio=("opus",))
    result = cli("upscale", source, "-o", tmp_path / "preview.mkv", "-s", "2", "-q", "--max-frames", "4", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    facts = read_video(tmp_path / "preview.mkv")
    assert [read_index(y, 64, 48) for y in facts.lumas] == [0, 1, 2, 3]
    assert facts.audio_codecs == ["opus"]


def test_multi_frame_flags_without_multi_mode_are_an_error_not_ignored(cli, make_clip, tmp_path):
    """--frames is the multi-frame window; read as a frame limit it would run the whole video."""
    source = make_clip("clip.mkv", frames=4)
    result = cli("upscale", source, "-o", tmp_path / "out.mkv", "-s", "2", "--frames", "3", *BICUBIC)
    assert_one_line_error(result, "--frames only applies with --mode multi", "--max-frames")
    assert not (tmp_path / "out.mkv").exists()
    result = cli("upscale", source, "-o", tmp_path / "out.mkv", "-s", "2", "--debug-dir", tmp_path / "maps", *BICUBIC)
    assert assert_one_line_error(result).endswith("--debug-dir only applies with --mode multi")  # no advice about frame limits


def test_names_ffmpeg_would_take_for_urls_are_files(cli, make_clip, tmp_path, monkeypatch):
    """"file:y.mp4" upscaled y.mp4 (another file, exit 0); "10:30.mp4" found no protocol "10"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file:y.mp4").write_bytes(make_clip("four.mp4", frames=4).read_bytes())
    make_clip("y.mp4", frames=1)
    result = cli("upscale", "file:y.mp4", "-o", "cam-10:30.mp4", "-s", "2", "-q", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    assert len(read_video(tmp_path / "cam-10:30.mp4").lumas) == 4
    again = cli("upscale", "cam-10:30.mp4", "-o", "out.mkv", "-s", "2", "-q", *BICUBIC)
    assert again.exit_code == 0, again.stderr
    # ".." after a symlinked folder is the system's (the link's target's parent), not the text's
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    (tmp_path / "real" / "in.mp4").write_bytes((tmp_path / "y.mp4").read_bytes())
    linked = cli("upscale", "link/../in.mp4", "-o", "link/../out.mp4", "-s", "2", "-q", *BICUBIC)
    assert linked.exit_code == 0, linked.stderr
    assert len(read_video(tmp_path / "real" / "out.mp4").lumas) == 1


@pytest.mark.parametrize("args, line", [
    (("upscale", "in.mp4", "--foo"), "vsr: error: no such option: --foo"),
    (("upscale",), "vsr: error: missing argument 'INPUT' (see 'vsr upscale --help')"),
    (("upscale", "in.mp4", "-s", "two"), "vsr: error: invalid value for '-s' / '--scale'"),
    (("upscale", "in.mp4", "--precision", "fp8"), "vsr: error: invalid value for '--precision': 'fp8' is not one of"),
    (("upscale", "in.mp4", "out.mp4"), "vsr: error: got unexpected extra argument(s) (out.mp4); the output goes after -o"),
    (("upscal", "in.mp4"), "vsr: error: no such command 'upscal'. Did you mean 'upscale'? (see 'vsr --help')"),
])
def test_a_usage_mistake_is_one_line_with_where_to_look(cli, args, line):
    """Typer framed these in a box of six lines or more under the usage."""
    result = cli(*args)
    assert "Value error" not in result.stderr  # pydantic's words in typer's message
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and error_lines(result)[0].startswith(line), result.stderr


def test_another_typer_app_in_the_process_keeps_its_own_usage_errors():
    """vsr's one-line usage errors are a patch of typer's: a program that imported vsr's command got
    vsr's "vsr: error: ..." lines for its own app."""
    script = (
        "import typer\n"
        "from typer.testing import CliRunner\n"
        "import vsr.cli.commands\n"
        "mine = typer.Typer(name='mytool')\n"
        "@mine.command()\n"
        "def run(count: int) -> None: ...\n"
        "@mine.command()\n"
        "def other() -> None: ...\n"
        "print(CliRunner().invoke(mine, ['run', 'x']).output)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert "vsr: error" not in proc.stdout and "Invalid value for 'count'" in proc.stdout, proc.stdout


def test_missing_input(cli, tmp_path):
    result = cli("upscale", tmp_path / "nope.mp4", "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "not found", "nope.mp4")
    assert listing(tmp_path) == []


def test_missing_input_with_an_extension_vsr_cannot_write_is_still_reported_as_missing(cli, tmp_path):
    result = cli("upscale", tmp_path / "nope.avi", "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "not found", "nope.avi")


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt"])
def test_a_text_file_is_not_a_video(cli, tmp_path, name):
    source = tmp_path / name
    source.write_text("this is not a video\n" * 20)
    result = cli("upscale", source, "-o", tmp_path / "out.mp4", "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "not a video file")
    assert listing(tmp_path) == [name]


@pytest.mark.parametrize("name,codec,output", [("song.m4a", "aac", None), ("song.mka", "libopus", None), ("song.m4a", "aac", "out.mp4")])
def test_a_file_without_a_video_stream(cli, make_audio_only, tmp_path, name, codec, output):
    source = make_audio_only(name, codec)
    args = ["-o", tmp_path / output] if output else []
    result = cli("upscale", source, *args, "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "no video stream")
    assert listing(tmp_path) == [name]


def test_an_output_folder_that_does_not_exist(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "-o", tmp_path / "missing" / "out.mp4", "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "does not exist")
    assert listing(tmp_path) == ["clip.mp4"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_an_unwritable_output_folder(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = cli("upscale", source, "-o", locked / "out.mp4", "-s", "2", "-q", *BICUBIC)
        assert_one_line_error(result, "permission denied")
        assert listing(locked) == []
    finally:
        locked.chmod(0o700)


def test_an_existing_output_needs_overwrite(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    target = tmp_path / "out.mkv"
    target.write_bytes(b"precious")
    result = cli("upscale", source, "-o", target, "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "exists", "--overwrite")
    assert target.read_bytes() == b"precious"

    result = cli("upscale", source, "-o", target, "-s", "2", "-q", "--overwrite", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    assert len(read_video(target).pts) == 3
    assert listing(tmp_path) == ["clip.mp4", "out.mkv"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_the_output_cannot_be_the_input(cli, make_clip, tmp_path, overwrite):
    source = make_clip("clip.mp4", frames=3)
    before = source.read_bytes()
    result = cli("upscale", source, "-o", source, "-s", "2", "-q", *overwrite, *BICUBIC)
    assert_one_line_error(result, "is the input itself")
    assert source.read_bytes() == before
    assert listing(tmp_path) == ["clip.mp4"]


def test_an_unsupported_scale(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "--scale", "5", "-q", *BICUBIC)
    assert_one_line_error(result, "unsupported scale 5", "2, 3, 4")
    assert listing(tmp_path) == ["clip.mp4"]


def test_an_unknown_model(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "-s", "2", "-q", "-m", "nosuchnet")
    assert_one_line_error(result, "unknown model", "nosuchnet", "bicubic")
    assert listing(tmp_path) == ["clip.mp4"]


def test_a_weight_file_written_by_vsr_train_is_a_model(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=4)
    weights = write_weight_file(tmp_path / "runs" / "x" / "model.pt", scale=2)
    result = cli("upscale", source, "-o", tmp_path / "by_path.mkv", "-s", "2", "-q", "-m", weights, "--preset", "ultrafast")
    assert result.exit_code == 0, result.stderr
    expected = vsr.upscale_video(
        source, tmp_path / "by_model.mkv", scale=2, model=load_model_file(weights), preset="ultrafast"
    )
    by_path, by_model = raw_planes(tmp_path / "by_path.mkv"), raw_planes(expected.output)
    assert len(by_path) == len(by_model) == 4
    assert all(np.array_equal(a, b) for x, y in zip(by_path, by_model) for a, b in zip(x, y))
    bicubic = vsr.upscale_video(source, tmp_path / "bicubic.mkv", scale=2, model="bicubic", preset="ultrafast")
    assert not np.array_equal(raw_planes(bicubic.output)[0][0], by_path[0][0])  # the weights were used


def test_a_weight_file_of_another_scale(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    weights = write_weight_file(tmp_path / "model.pt", scale=2)
    result = cli("upscale", source, "-s", "4", "-q", "-m", weights)
    assert_one_line_error(result, "model.pt is an x2 model, not x4")
    assert listing(tmp_path) == ["clip.mp4", "model.pt"]


def test_a_missing_weight_file(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "-s", "2", "-q", "-m", tmp_path / "runs" / "nope.pt")
    assert_one_line_error(result, "nope.pt")
    assert listing(tmp_path) == ["clip.mp4"]


@pytest.mark.parametrize("args, fragments", [
    (("--preset", "bogus"), ("unknown libx264 preset 'bogus'", "veryfast")),
    (("--crf", "-5"), ("libx264's CRF runs from 0 to 51, got -5",)),
    (("--crf", "60"), ("libx264's CRF runs from 0 to 51, got 60",)),  # x264 would cap it without a word
])
def test_bad_encoder_settings_are_named_not_blamed_on_the_input(cli, make_clip, tmp_path, args, fragments):
    source = make_clip("clip.mkv", frames=3, audio=("opus",))  # an audio packet would start the output first
    result = cli("upscale", source, "-s", "2", "-q", "-m", "bicubic", *args)
    message = assert_one_line_error(result, *fragments)
    assert "damaged" not in message
    assert listing(tmp_path) == ["clip.mkv"]


def test_a_file_that_is_not_a_weight_file(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    (tmp_path / "notes.pt").write_text("x\n")
    result = cli("upscale", source, "-s", "2", "-q", "-m", tmp_path / "notes.pt")
    message = assert_one_line_error(result, "notes.pt", "not a torch weight file")
    assert "weights_only" not in message
    assert listing(tmp_path) == ["clip.mp4", "notes.pt"]


@pytest.mark.parametrize("graph", [
    "atadenoise,unsharp",
    "yadif,atadenoise",
])
def test_a_filtered_run_keeps_frame_count_timestamps_and_audio(cli, make_clip, tmp_path, graph):
    source = make_clip("clip.mkv", frames=12, audio=("opus",))
    plain = cli("upscale", source, "-o", tmp_path / "plain.mkv", "-s", "2", "-q", *BICUBIC)
    filtered = cli("upscale", source, "-o", tmp_path / "filtered.mkv", "-s", "2", "-q", "--vf", graph, *BICUBIC)
    assert plain.exit_code == 0 and filtered.exit_code == 0, filtered.stderr
    before, after = read_video(source), read_video(tmp_path / "filtered.mkv")
    assert len(after.pts) == 12
    assert after.pts == before.pts and after.time_base == before.time_base
    assert audio_packets(tmp_path / "filtered.mkv") == audio_packets(source)
    unfiltered = raw_planes(tmp_path / "plain.mkv")
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(raw_planes(tmp_path / "filtered.mkv"), unfiltered))


def test_an_unknown_filter_is_reported_before_any_work(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "-s", "2", "-q", "--vf", "yadif,nosuchfilter", *BICUBIC)
    assert_one_line_error(result, "no video filter named 'nosuchfilter'")
    assert listing(tmp_path) == ["clip.mp4"]
    # the chain named as given (the filters vsr runs after it to read its tags were quoted too)
    result = cli("upscale", source, "-s", "2", "-q", "--vf", "crop=9999:9999", *BICUBIC)
    assert result.stderr.startswith("vsr: error: the filter graph 'crop=9999:9999' cannot run on 64x48 yuv420p frames: ")


def test_filters_on_a_still_image_are_refused_rather_than_ignored(cli, tmp_path):
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), np.zeros((8, 8, 3), np.uint8))
    result = cli("upscale", source, "-s", "2", "-q", "--vf", "atadenoise", *BICUBIC)
    assert_one_line_error(result, "apply to videos, not to the still image photo.png")
    assert listing(tmp_path) == ["photo.png"]


def test_an_output_extension_that_names_no_container(cli, make_clip, tmp_path):
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "-o", tmp_path / "out.avi", "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "vsr does not write .avi video", ".mp4", ".webm")


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("upscale", tmp_path / "nope.mp4", "-s", "2", "-q", "--debug", *BICUBIC)
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "InputError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("vsr: error: ")


def test_an_unexpected_failure_is_still_one_line(cli, make_clip, tmp_path, monkeypatch):
    from vsr.media import mux

    def broken(self, frame):
        raise ZeroDivisionError("unexpected")

    monkeypatch.setattr(mux.Muxer, "write_frame", broken)
    source = make_clip("clip.mp4", frames=3)
    result = cli("upscale", source, "-s", "2", "-q", *BICUBIC)
    assert_one_line_error(result, "encode", "ZeroDivisionError", "unexpected")
    assert listing(tmp_path) == ["clip.mp4"]


@pytest.mark.parametrize(
    ("interruption", "code", "line"),
    [(KeyboardInterrupt, 130, "vsr: interrupted"), (Interrupted(signal.SIGTERM), 143, "vsr: terminated"),
     (Interrupted(signal.SIGHUP), 129, "vsr: hung up")],
    ids=["ctrl-c", "SIGTERM", "SIGHUP"],
)
def test_an_interruption_mid_run_exits_128_plus_signal_and_leaves_nothing(
    cli, make_clip, tmp_path, monkeypatch, interruption, code, line
):
    """What the CLI's signal handlers raise in the main thread, raised from the progress callback."""

    def update(self, done, total):
        if done >= 2:
            raise interruption

    monkeypatch.setattr(vsr.cli.common.ProgressBar, "update", update)
    source = make_clip("clip.mp4", frames=30)
    result = cli("upscale", source, "-s", "2", "-q", *BICUBIC)
    assert result.exit_code == code
    assert error_lines(result) == [line]
    assert listing(tmp_path) == ["clip.mp4"]


def test_bench_prints_each_stage(cli, make_clip):
    source = make_clip("clip.mp4", frames=12)
    result = cli("bench", source, "--frames", "8", "-s", "2", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for word in ("decode", "model", "encode", "end-to-end"):
        assert word in out
    lines = out.splitlines()
    assert "8 frames" in lines[0]
    assert any(line.startswith("end-to-end") and "fps" in line for line in lines)


def test_bench_times_what_upscale_would_write(cli, make_clip):
    """It always planned an MP4: a WebM input was timed with x264 and its Vorbis re-encoded (with a
    warning about a file the user never sees), not as `vsr upscale` writes it (VP9, audio copied)."""
    source = make_clip("clip.mkv", frames=6, audio=("pcm_s16le",))
    result = cli("bench", source, "--frames", "4", "-s", "2", "-m", "bicubic")
    assert result.exit_code == 0, result.stderr
    assert "libx264" in result.stdout.splitlines()[0] and "re-encoding" not in result.stderr  # Matroska holds PCM
    webm = make_clip("clip.webm", frames=6, codec="libvpx-vp9")
    result = cli("bench", webm, "--frames", "4", "-s", "2", "-m", "bicubic", "--preset", "ultrafast")
    assert result.exit_code == 0, result.stderr
    assert "libvpx-vp9" in result.stdout.splitlines()[0]


def test_bench_times_the_multi_frame_mode(cli, make_clip):
    source = make_clip("clip.mp4", frames=10)
    result = cli("bench", source, "--frames", "6", "-s", "2", "--mode", "multi", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "multi-frame (5 frames)" in lines[0] and "6 frames" in lines[0]
    assert any(line.startswith("model + fusion (luma)") for line in lines)
    assert not any("naive" in line for line in lines)  # no naive multi-frame baseline to compare with


def test_bench_self_ensembled_has_no_naive_baseline(cli, make_clip):
    """Its ratio compared 8 passes a frame with the naive loop's 1: "speed-up over naive 0.15 x"."""
    result = cli("bench", make_clip("clip.mp4", frames=6), "--frames", "4", "-s", "2", "-m", "espcn", "--ensemble")
    assert result.exit_code == 0, result.stderr
    assert "end-to-end" in result.stdout and "naive" not in result.stdout


def test_bench_errors_are_one_line_too(cli, tmp_path):
    result = cli("bench", tmp_path / "nope.mp4", "--frames", "8", "-s", "2", *BICUBIC)
    assert_one_line_error(result, "not found")


@pytest.mark.slow
def test_python_dash_m_vsr_reports_one_line_on_the_real_stderr(tmp_path):
    """The installed entry point, in a real process: exit status and stderr as a shell sees them."""
    proc = subprocess.run(
        [sys.executable, "-m", "vsr", "upscale", str(tmp_path / "nope.mp4"), "-s", "2", "-q", "-m", "bicubic"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vsr: error: ") and "not found" in lines[0]
    assert "Traceback" not in proc.stderr


def test_version_names_vsr_and_what_it_runs_on(cli):
    import av

    import vsr

    result = cli("--version")
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert line.startswith(f"vsr {vsr.__version__} (PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}, torch ")
    assert "\n" not in line


def test_an_input_in_a_container_vsr_does_not_write_becomes_mkv_beside_it(cli, make_clip, tmp_path):
    made = make_clip("made.mkv", frames=6, audio=("aac",))
    source = tmp_path / "tape.ts"
    with av.open(str(made)) as src, av.open(str(source), "w", format="mpegts") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    made.unlink()
    result = cli("upscale", source, "--scale", "2", *BICUBIC)
    assert result.exit_code == 0, result.stderr
    assert listing(tmp_path) == ["tape.ts", "tape_x2.mkv"]
    assert len(read_video(tmp_path / "tape_x2.mkv", keep_lumas=False).pts) == 6


def test_bench_takes_the_scale_of_a_weight_file(cli, make_clip, tmp_path):
    from tinymodels import write_weight_file

    source = make_clip("clip.mp4", frames=6)
    weights = write_weight_file(tmp_path / "mine.pt", scale=2)
    result = cli("bench", source, "--frames", "3", "-m", weights, "--no-naive")
    assert result.exit_code == 0, result.stderr
    assert "x2" in result.stdout.splitlines()[0]


def test_bench_refuses_more_frames_than_its_stage_timings_can_hold(cli, make_clip, monkeypatch):
    monkeypatch.setattr("vsr.bench.available_memory", lambda: 200_000)  # 0.2 MB to spare
    source = make_clip("clip.mp4", frames=6)  # 64x48 → 128x96: 46 kB a frame pair at 4:4:4, 6 of them
    result = cli("bench", source, "--frames", "1000", "-s", "2", *BICUBIC)
    assert_one_line_error(result, "use --frames 2 or fewer")


def test_a_warning_while_the_progress_bar_shows_starts_its_own_line(capsys):
    """The end-of-run damage summary began in the middle of the bar's line."""
    import logging

    from vsr.cli.common import ProgressBar, setup_logging

    setup_logging()
    with ProgressBar(disable=False) as bar:
        bar.update(3, 45)
        logging.getLogger("vsr.media.decode").warning("damaged input: 4 frame(s) were dropped")
        bar.update(45, 45)
    err = capsys.readouterr().err
    before = err[err.index("vsr: warning: damaged input") - 1]
    assert before in "\r\n", repr(err)


def test_bench_says_when_its_stage_timings_cannot_be_trusted():
    """On a busy machine the stages timed alone came out slower than the whole run (end-to-end 2.5 x the
    ceiling), printed without a word."""
    from types import SimpleNamespace

    from vsr.bench import BenchReport, StageTiming

    job = SimpleNamespace(describe=lambda: "a job", engine=SimpleNamespace(device="cpu"))

    def report(end_to_end_seconds: float) -> list[str]:
        stages = {name: StageTiming(name, 10, 1.0) for name in ("decode", "model", "upscale", "encode")}
        return BenchReport(job, **stages, end_to_end=StageTiming("end-to-end", 10, end_to_end_seconds), naive=None,
                           peak_rss_mb=100.0).lines()

    assert any(line.startswith("note: the whole run beat its slowest stage") for line in report(0.4))
    assert not any(line.startswith("note:") for line in report(1.5))


@pytest.mark.parametrize("command", ["upscale", "bench", "eval", "train", "experiment", "models"])
def test_help_shows_flags_without_a_type_and_options_with_theirs(cli, command):
    """Every flag read `--overwrite <bool>` (even `--help <bool>`), as if it took a value."""
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "--help" in result.stdout
    if command != "models":
        assert "<int" in result.stdout or "<path>" in result.stdout


def test_the_progress_bar_of_a_resumed_job_counts_its_rate_from_where_it_resumed():
    """600 of 960 frames done before a resume read as 158166 frames/s, and the ETA followed."""
    from vsr.cli.common import ProgressBar

    with ProgressBar(disable=False) as bar:
        bar.update(600, 960)
        bar.update(610, 960)
        assert (bar.bar.n, bar.bar.total, bar.bar.initial) == (610, 960, 600)
        assert bar.bar.format_dict["n"] - bar.bar.format_dict["initial"] == 10


@pytest.mark.parametrize("command", ["eval", "bench"])
def test_eval_and_bench_run_on_the_threads_asked_for(cli, make_clip, tmp_path, command):
    """Their timings on a busy machine could not be steadied: only `vsr experiment` took --threads."""
    import torch

    before = torch.get_num_threads()
    if command == "eval":
        (tmp_path / "set").mkdir()
        cv2.imwrite(str(tmp_path / "set" / "a.png"), np.random.default_rng(0).integers(0, 255, (48, 48, 3), np.uint8))
        args = ["eval", "-m", "espcn", "-s", "2", "--data", tmp_path / "set", "-q"]
    else:
        args = ["bench", make_clip("clip.mp4", frames=4), "-m", "bicubic", "-s", "2", "--frames", "2", "--no-naive",
                "--preset", "ultrafast"]
    try:
        result = cli(*args, "--threads", "1")
        assert result.exit_code == 0, result.stderr
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_progress_bar_off_a_terminal_writes_a_whole_line_now_and_then(capsys, monkeypatch):
    """In a log file (nohup, Slurm) the bar was redrawn twice a second with carriage returns, and a
    warning's clearing of it left blank lines; a short job left its bar's first state ("0/72, ?")."""
    import logging
    import time

    import vsr.cli.common as common
    from vsr.cli.common import ProgressBar, setup_logging

    setup_logging()

    def run(pause: float) -> list[str]:
        with ProgressBar(disable=False) as bar:
            for done in range(0, 1001, 100):
                bar.update(done, 1000)
                time.sleep(pause)
                if done == 500:
                    logging.getLogger("vsr.media.decode").warning("damaged input: 4 frame(s) were dropped")
        err = capsys.readouterr().err
        assert "\r" not in err and "vsr: warning: damaged input" in err
        assert all(line.strip() for line in err.splitlines()), err
        return [line for line in err.splitlines() if "/1000" in line]

    assert run(0) == []  # done within the interval: no bar in the log
    monkeypatch.setattr(common, "NON_TERMINAL_SECONDS", 0.05)
    assert 2 <= len(run(0.03)) <= 11  # a long job: a line now and then


def test_a_progress_line_to_a_reader_gone_loses_the_line_not_the_run(monkeypatch):
    """`vsr upscale long.mkv 2>&1 | head -1`: the bar's line every 30 s raised BrokenPipeError inside
    the run's progress callback: exit 1, no output."""
    import vsr.cli.common as common
    from vsr.cli.common import ProgressBar

    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def isatty(self):
            return False

    monkeypatch.setattr(common.sys, "stderr", Gone())
    monkeypatch.setattr(common, "NON_TERMINAL_SECONDS", 0.0)
    with ProgressBar(disable=False) as bar:
        for done in range(0, 101, 10):
            bar.update(done, 100)


@pytest.mark.parametrize("flag, value, message", [
    ("--denoise", "lite", "invalid value for '--denoise': 'lite' is not one of 'off', 'light', 'medium', 'strong', 'temporal'"),
    ("--deinterlace", "Auto", "invalid value for '--deinterlace': 'Auto' is not one of 'off', 'auto', 'bwdif', 'yadif', 'w3fdif'"),
    ("--mode", "Multi", "invalid value for '--mode': 'Multi' is not one of 'single', 'multi'"),
    ("--colour-matrix", "bt601", "invalid value for '--colour-matrix': 'bt601' is not one of 'keep', 'bt709'"),
    ("--deinterlace-rate", "fields", "invalid value for '--deinterlace-rate': 'fields' is not one of 'frame', 'field'"),
])
def test_a_misspelt_choice_is_one_line_naming_the_choices(cli, make_clip, tmp_path, flag, value, message):
    """It was click's framed usage error under the usage line, exit 2 ("Value error, 'lite' is not one of ...")."""
    result = cli("upscale", make_clip("clip.mp4", frames=2), "-o", tmp_path / "out.mp4", "-s", "2", *BICUBIC, flag, value)
    assert_one_line_error(result, message)
    assert result.exit_code == 2  # a usage mistake, as --precision fp8 is (these were exit 1)


@pytest.mark.parametrize("flag, value", [("--mode", "video"), ("--precision", "fp8")])
def test_eval_refuses_a_misspelt_choice_as_a_usage_mistake(cli, tmp_path, flag, value):
    from vsr.cli.evaluate import PRECISIONS
    from vsr.device import EXPLICIT_PRECISIONS

    assert PRECISIONS == EXPLICIT_PRECISIONS
    result = cli("eval", "-d", tmp_path, "-m", "bicubic", "-s", "2", flag, value)
    assert_one_line_error(result, f"invalid value for '{flag}': '{value}' is not one of")
    assert result.exit_code == 2


def test_eval_of_a_folder_it_refuses_prints_the_error_alone(cli, tmp_path):
    """A progress line ("espcn x4: 0img") came before the one-line error."""
    result = cli("eval", "-m", "espcn", "-s", "4", "-d", tmp_path / "nosuchdir")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"vsr: error: folder not found: {tmp_path / 'nosuchdir'}"]


def test_bench_of_a_still_image_says_it_measures_videos(cli, tmp_path):
    cv2.imwrite(str(tmp_path / "bird.png"), np.zeros((16, 16, 3), np.uint8))
    result = cli("bench", tmp_path / "bird.png", "-m", "bicubic", "-s", "2", "--frames", "2")
    assert_one_line_error(result, "vsr bench measures a video's frames; bird.png is a still image")


def test_a_closed_stderr_loses_the_last_line_not_the_exit_status(cli, make_clip, tmp_path, monkeypatch):
    """`vsr upscale ... 2>&1 | head -1` (or 2>&-): the output was whole, the exit status 1 (the
    'wrote' line's broken pipe)."""
    import typer

    real = typer.echo

    def closed(message=None, *args, err=False, **kwargs):
        if err and str(message).startswith("vsr: wrote"):
            raise BrokenPipeError(32, "Broken pipe")
        return real(message, *args, err=err, **kwargs)

    monkeypatch.setattr(typer, "echo", closed)
    result = cli("upscale", make_clip("clip.mp4", frames=3), "-o", tmp_path / "out.mp4", "-s", "2", *BICUBIC)
    assert result.exit_code == 0 and len(read_video(tmp_path / "out.mp4").lumas) == 3


def test_a_signal_while_ray_stops_comes_after_the_line_that_says_the_work_is_done(cli, make_clip, tmp_path, monkeypatch):
    """Ctrl-C during Ray's shutdown, after the join: 'vsr: interrupted' alone, though the output was whole."""
    import vsr.cli.upscale as upscale_command
    from vsr.segments.run import SequentialRunner

    class StoppedWhileClosing(SequentialRunner):
        def close(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(upscale_command, "_ray_runner", lambda *args: StoppedWhileClosing())
    result = cli("upscale", make_clip("clip.mp4", frames=6), "-o", tmp_path / "out.mp4", "-s", "2", "--workers", "2",
                 *BICUBIC)
    lines = error_lines(result)
    assert result.exit_code == 130 and lines[-2].startswith("vsr: wrote") and lines[-1] == "vsr: interrupted"
    assert len(read_video(tmp_path / "out.mp4").lumas) == 6


def test_an_encoder_without_a_crf_takes_a_bitrate_and_refuses_a_crf(cli, make_clip, tmp_path):
    """--crf 2 with mpeg4 was ignored without a word: FFmpeg's default 200 kb/s, at any size."""
    source = make_clip("in.mp4", frames=6)
    refused = cli("upscale", source, "-o", tmp_path / "crf.mp4", "-s", "2", "-m", "bicubic", "--codec", "mpeg4", "--crf", "2")
    assert refused.exit_code == 1
    assert error_lines(refused) == ["vsr: error: mpeg4 has no CRF (libx264, libx265, libvpx-vp9, libsvtav1 have one); "
                                    "give it a bitrate instead"]
    both = cli("upscale", source, "-o", tmp_path / "both.mp4", "-s", "2", "--crf", "20", "--bitrate", "2M")
    assert both.exit_code == 1 and "--crf and --bitrate both set the quality" in both.stderr
    plain = cli("upscale", source, "-o", tmp_path / "plain.mp4", "-s", "2", "-m", "bicubic", "--codec", "mpeg4")
    assert plain.exit_code == 0 and "mpeg4 has no CRF: it encodes at FFmpeg's default bitrate" in plain.stderr
    rich = cli("upscale", source, "-o", tmp_path / "rich.mp4", "-s", "2", "-m", "bicubic", "--codec", "mpeg4",
               "--bitrate", "4M")
    assert rich.exit_code == 0 and "default bitrate" not in rich.stderr, rich.stderr
    assert (tmp_path / "rich.mp4").stat().st_size > 2 * (tmp_path / "plain.mp4").stat().st_size
    lossless = cli("upscale", source, "-o", tmp_path / "ffv1.mkv", "-s", "2", "-m", "bicubic", "--codec", "ffv1",
                   "--preset", "ultrafast")
    assert lossless.exit_code == 0 and "ffv1 has no presets" in lossless.stderr
    assert cli("upscale", source, "-o", tmp_path / "bad.mp4", "--bitrate", "fast").exit_code == 1


@pytest.mark.parametrize("flags", [("--precision", "fp16"), ("--precision", "bf16")])
def test_a_half_precision_asked_of_bicubic_is_refused_not_ignored(cli, make_clip, tmp_path, flags):
    """It ran in the samples' integers and said "on cpu (uint)", the flag ignored without a word."""
    result = cli("upscale", make_clip("in.mp4", frames=2), "-o", tmp_path / "out.mp4", "-s", "2", "-m", "bicubic", *flags)
    assert result.exit_code == 1
    assert error_lines(result) == [f"vsr: error: bicubic is OpenCV's interpolation, on the CPU in the samples' own "
                                   f"integers: {' '.join(flags)} does not apply; drop it, or name a network model"]
    assert not (tmp_path / "out.mp4").exists()


def test_opencv_says_nothing_beside_vsr_on_the_command_line(tmp_path):
    """OpenCV printed two "[ WARN:0@0.1] ... TIFF_Warning ..." lines for every RGBA TIFF (and error
    blocks for a damaged file) beside vsr's own lines; with --debug they stay."""
    source = tmp_path / "rgba.tif"
    cv2.imwrite(str(source), np.full((12, 16, 4), 200, np.uint8))
    command = [sys.executable, "-m", "vsr", "upscale", str(source), "-s", "2", "-m", "bicubic"]
    plain = subprocess.run([*command, "-o", str(tmp_path / "a.tif")], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and all(line.startswith("vsr: ") for line in plain.stderr.splitlines()), plain.stderr
    debugging = subprocess.run([*command, "-o", str(tmp_path / "b.tif"), "--debug"], capture_output=True, text=True,
                               timeout=120)
    assert "TIFF_Warning" in debugging.stderr
