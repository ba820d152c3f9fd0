"""vsr.segments.folder: `vsr upscale DIR -o OUTDIR` upscales every video in DIR and says what
became of each (done / skipped / failed), failing only when a file failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_segments_join import CLIP, LOSSLESS
from videoclips import read_video, remux
from vsr.errors import ConfigError, InputError
from vsr.segments.folder import default_output_folder, output_name, upscale_folder

FLAGS = ("--scale", "2", "--model", "bicubic", "--crf", "0", "-q")


@pytest.fixture
def folder(make_clip, tmp_path: Path) -> Path:
    """good.mp4, existing.mkv (its output already there), broken.mp4 and a text file."""
    make_clip("in/good.mp4", **CLIP)
    make_clip("in/existing.mkv", **CLIP)
    (tmp_path / "in" / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (tmp_path / "in" / "notes.txt").write_text("not a video either")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "existing.mkv").write_bytes(b"an earlier result")
    return tmp_path / "in"


@pytest.mark.parametrize("segments", [(), ("--segment-seconds", "0.5")])
def test_each_file_is_done_skipped_or_failed_and_a_failure_sets_the_exit_status(cli, folder, tmp_path, segments):
    out = tmp_path / "out"
    result = cli("upscale", folder, "-o", out, *FLAGS, *segments)
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines() == [
        f"failed   broken.mp4: {result.stdout.split('broken.mp4: ')[1].splitlines()[0]}",
        "skipped  existing.mkv: the output exists (--overwrite replaces it)",
        f"done     good.mp4 → {out / 'good.mp4'} (40 frames)",
    ]
    assert (out / "existing.mkv").read_bytes() == b"an earlier result"
    assert len(read_video(out / "good.mp4", keep_lumas=False).pts) == 40
    assert sorted(p.name for p in out.iterdir()) == ["existing.mkv", "good.mp4"]  # no work folder, no partial file


def test_a_work_dir_made_for_a_folder_run_is_not_left_behind(cli, folder, tmp_path):
    result = cli("upscale", folder, "-o", tmp_path / "out", *FLAGS, "--segment-seconds", "0.5", "--work-dir", tmp_path / "wd")
    assert "done     good.mp4" in result.stdout and not (tmp_path / "wd").exists()


def test_overwrite_redoes_every_file_and_all_done_exits_zero(cli, folder, tmp_path):
    (folder / "broken.mp4").unlink()
    result = cli("upscale", folder, "-o", tmp_path / "out", *FLAGS, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["done", "done"]
    assert len(read_video(tmp_path / "out" / "existing.mkv", keep_lumas=False).pts) == 40


def test_the_default_output_folder_sits_beside_the_input_and_may_not_be_it(folder, tmp_path):
    assert default_output_folder(folder, 2) == tmp_path / "in_x2"
    with pytest.raises(ConfigError, match="the output folder is the input folder"):
        upscale_folder(folder, folder, LOSSLESS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video or image in"):
        upscale_folder(tmp_path / "empty", None, LOSSLESS)


def as_mpeg_ts(source: Path, target: Path) -> Path:
    """`source`'s packets copied into an MPEG-TS file (a container vsr reads but does not write)."""
    return remux(source, target, "mpegts")


def test_an_output_keeps_the_input_name_where_vsr_writes_that_container():
    assert [output_name(Path(name)) for name in ("a.mp4", "b.MOV", "c.avi", "d.ts", "e.vob", "f.tar.mpg")] == [
        "a.mp4", "b.MOV", "c.mkv", "d.mkv", "e.mkv", "f.tar.mkv",
    ]


@pytest.mark.parametrize("segments", [(), ("--segment-seconds", "0.5")])
def test_a_ts_input_becomes_mkv_and_an_input_whose_output_is_taken_fails(cli, make_clip, tmp_path, segments):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    as_mpeg_ts(make_clip("tape.mp4", **CLIP), folder / "tape.ts")
    as_mpeg_ts(make_clip("clash.mp4", **CLIP), folder / "clash.ts")
    make_clip("in/clash.mkv", **CLIP)  # its output is its own name: clash.ts, sorted after it, is the one refused
    make_clip("in/Tape.mkv", **CLIP)  # tape.ts's output but for case: one file where case is ignored (macOS, Windows)
    result = cli("upscale", folder, "-o", out, *FLAGS, *segments)
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines() == [
        f"done     Tape.mkv → {out / 'Tape.mkv'} (40 frames)",
        f"done     clash.mkv → {out / 'clash.mkv'} (40 frames)",
        "failed   clash.ts: its output would be clash.mkv, as clash.mkv's is (or differs only in case); rename one of them",
        "failed   tape.ts: its output would be tape.mkv, as Tape.mkv's is (or differs only in case); rename one of them",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["Tape.mkv", "clash.mkv"]


@pytest.mark.parametrize(("filters", "frames"), [
    ({"deinterlace": "bwdif", "deinterlace_rate": "field"}, 80),  # one frame per field: twice the frames
    ({"ivtc": True}, 32),  # decimate: 4 of every 5
])
def test_the_progress_total_counts_the_frames_after_the_filters(make_clip, tmp_path, filters, frames):
    make_clip("in/a.mp4", **CLIP)
    make_clip("in/b.mp4", **CLIP)  # MP4 says how many frames it holds (Matroska's count is estimated)
    options = LOSSLESS.replace(filters=filters)
    reports: list[tuple[int, int | None]] = []
    outcomes = upscale_folder(tmp_path / "in", tmp_path / "out", options, progress=lambda done, total: reports.append((done, total)))
    assert [o.detail for o in outcomes] == [f"({frames} frames)"] * 2
    assert reports[-1] == (2 * frames, 2 * frames) and all(total == 2 * frames for _, total in reports)


def test_the_progress_of_a_folder_whose_count_was_estimated_ends_full(make_clip, tmp_path):
    """A Matroska file's frame count is an estimate (duration x rate): the folder's bar ended short of its total."""
    from fractions import Fraction

    make_clip("in/a.mkv", frames=12, time_base=Fraction(1, 90000), durations=[3600] * 6 + [7200] * 6)  # read as 17
    reports: list[tuple[int, int | None]] = []
    upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, progress=lambda done, total: reports.append((done, total)))
    assert reports[-1] == (12, 12)


def test_what_planning_the_filters_warns_of_is_said_once_a_file(make_clip, tmp_path, caplog):
    """The progress total plans each file's filters before the run, which plans them again: every
    warning came twice."""
    import logging

    make_clip("in/a.mp4", **CLIP)
    make_clip("in/b.mp4", **CLIP)
    options = LOSSLESS.replace(filters={"deinterlace": "auto", "deinterlace_rate": "field"})
    with caplog.at_level(logging.WARNING, logger="vsr"):
        upscale_folder(tmp_path / "in", tmp_path / "out", options)
    assert sum("is progressive" in message for message in caplog.messages) == 2


def test_a_file_name_as_the_output_of_a_folder_run_is_refused(cli, folder, tmp_path):
    """It made a folder named out.mp4 holding the outputs."""
    result = cli("upscale", folder, "-o", tmp_path / "out.mp4", *FLAGS)
    assert result.exit_code == 1 and "out.mp4 looks like a file name" in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_an_output_folder_the_run_made_goes_when_every_file_failed(cli, make_clip, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.mp4").write_bytes(b"not a video at all" * 100)
    result = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", *FLAGS)
    assert result.exit_code == 1 and result.stdout.startswith("failed   broken.mp4")
    assert not (tmp_path / "out").exists()


def test_a_segmented_folder_run_whose_files_fail_before_a_segment_is_done_leaves_nothing_to_resume(
    cli, make_clip, tmp_path, monkeypatch
):
    import vsr.segments.worker as segments_worker
    from vsr.errors import PipelineError

    make_clip("in/a.mp4", **CLIP)
    make_clip("in/b.mp4", **CLIP)
    real = segments_worker.upscale_segment

    def failing(source, segment, *args, **kwargs):
        raise PipelineError(f"segment {segment.index}", "3 frames written, but the plan holds 13")

    monkeypatch.setattr(segments_worker, "upscale_segment", failing)
    out = tmp_path / "out"
    result = cli("upscale", tmp_path / "in", "-o", out, *FLAGS, "--segment-seconds", "0.5")
    assert result.exit_code == 1
    assert all("work folder kept" not in line for line in result.stdout.splitlines())
    assert not out.exists()  # made by the run, left empty by it: removed
    monkeypatch.setattr(segments_worker, "upscale_segment", real)
    again = cli("upscale", tmp_path / "in", "-o", out, *FLAGS, "--segment-seconds", "0.5")  # no --resume needed
    assert again.exit_code == 0, again.stdout + again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]


def test_the_current_folder_as_input_gets_its_real_name(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(folder)
    assert default_output_folder(Path("."), 2) == tmp_path / "in_x2"  # was a ValueError: '.' has an empty name


def test_a_warning_during_a_folder_run_names_its_file_and_an_interruption_says_what_is_finished(
    cli, make_clip, tmp_path, monkeypatch
):
    import logging

    import vsr.segments.folder as folder_run
    import vsr.segments.worker as segments_worker

    make_clip("in/a 100%.mp4", **CLIP)
    make_clip("in/b.mp4", **CLIP)
    real = folder_run.upscale_video

    def warning_then_stop(source, *args, **kwargs):
        logging.getLogger("vsr.pipeline.run").warning("something about %d%% of the frames", 50)
        logging.getLogger("vsr.pipeline.run").warning("%s says its own name", source.name)
        if source.name == "b.mp4":
            raise KeyboardInterrupt
        return real(source, *args, **kwargs)

    monkeypatch.setattr(folder_run, "upscale_video", warning_then_stop)
    result = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", *FLAGS)
    assert result.exit_code == 130
    assert "vsr: warning: a 100%.mp4: something about 50% of the frames" in result.stderr
    assert "vsr: warning: b.mp4: something about 50% of the frames" in result.stderr
    assert "vsr: warning: b.mp4 says its own name" in result.stderr  # not "b.mp4: b.mp4 ..." 
    assert result.stderr.strip().splitlines()[-1] == (  # on the one line of the interruption
        f"vsr: interrupted: 1 of 2 file(s) finished, kept in {tmp_path / 'out'}; the same command again skips them "
        "and does the rest")
    again = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", *FLAGS, "--overwrite")
    assert again.exit_code == 130 and "the same command again does them all again" in again.stderr  # not "without --overwrite": that skips the old outputs too
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a 100%.mp4"]
    real_segment = segments_worker.upscale_segment

    def stop_in_b(source, *args, **kwargs):
        if Path(source).name == "b.mp4":
            raise KeyboardInterrupt
        return real_segment(source, *args, **kwargs)

    monkeypatch.setattr(segments_worker, "upscale_segment", stop_in_b)
    segmented = cli("upscale", tmp_path / "in", "-o", tmp_path / "seg", *FLAGS, "--segment-seconds", "1")
    assert segmented.exit_code == 130  # a work folder kept takes --resume (without, it was refused)
    assert "; the same command again with --resume " in segmented.stderr.strip().splitlines()[-1]
    monkeypatch.setattr(folder_run, "upscale_video", lambda *args, **kwargs: warning_then_stop(Path("b.mp4")))
    first = cli("upscale", tmp_path / "in", "-o", tmp_path / "new", *FLAGS)
    assert first.stderr.strip().splitlines()[-1] == "vsr: interrupted: no file finished; the same command again starts over"
    assert not (tmp_path / "new").exists()  # the output folder it made, empty, goes
    assert not any(getattr(f, "__name__", "") == "name_it" for h in logging.getLogger("vsr").handlers for f in h.filters)
    monkeypatch.undo()
    resumed = cli("upscale", tmp_path / "in", "-o", tmp_path / "seg", *FLAGS, "--segment-seconds", "1", "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "starting afresh" not in resumed.stderr  # a file without work starts, without a warning each
    assert sorted(p.name for p in (tmp_path / "seg").iterdir()) == ["a 100%.mp4", "b.mp4"]


def test_a_folder_of_still_images_is_upscaled_image_by_image(cli, tmp_path):
    import cv2
    import numpy as np

    (tmp_path / "scans").mkdir()
    for name, shape in (("a.png", (12, 16, 3)), ("b.jpg", (10, 14, 3)), ("c.tif", (8, 8))):
        assert cv2.imwrite(str(tmp_path / "scans" / name), np.full(shape, 120, np.uint8))
    (tmp_path / "scans" / "notes.txt").write_text("not an image")
    result = cli("upscale", tmp_path / "scans", "--scale", "2", "--model", "bicubic", "-q")
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "scans_x2"
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [["done", "a.png"], ["done", "b.jpg"], ["done", "c.tif"]]
    assert [cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED).shape for name in ("a.png", "b.jpg", "c.tif")] == [
        (24, 32, 3), (20, 28, 3), (16, 16)]
    refused = cli("upscale", tmp_path / "scans", "--scale", "2", "--model", "bicubic", "--crf", "20", "-o", tmp_path / "o")
    assert refused.exit_code == 1 and f"--crf applies to videos, not to the still images of {tmp_path / 'scans'}" in refused.stderr
    segmented = cli("upscale", tmp_path / "scans", "--scale", "2", "--segment-seconds", "2", "-o", tmp_path / "o")
    assert segmented.exit_code == 1 and "holds still images, and segments are for videos" in segmented.stderr
    assert not (tmp_path / "o").exists()


def test_a_folder_holding_videos_leaves_its_images_alone(cli, make_clip, tmp_path):
    import cv2
    import numpy as np

    make_clip("in/a.mp4", **CLIP)
    cv2.imwrite(str(tmp_path / "in" / "cover.jpg"), np.full((8, 8, 3), 50, np.uint8))
    result = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", *FLAGS[:-1])
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [["done", "a.mp4"]]
    assert "1 image(s) in" in result.stderr and "left alone" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4"]


def test_the_default_output_folder_of_a_linked_folder_sits_beside_the_link(tmp_path):
    (tmp_path / "real" / "tapes").mkdir(parents=True)
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "tapes").symlink_to(tmp_path / "real" / "tapes")
    assert default_output_folder(tmp_path / "links" / "tapes", 2) == tmp_path / "links" / "tapes_x2"


def test_a_debug_folder_is_refused_for_a_folder_or_a_segmented_run(cli, make_clip, tmp_path):
    """Each video's (or segment's) confidence maps overwrote the last one's, named by indices that restart."""
    make_clip("in/a.mp4", **CLIP)
    for target, extra, said in ((tmp_path / "in", (), "run it on one file"),
                                (tmp_path / "in" / "a.mp4", ("--segment-seconds", "0.5"), "drop --debug-dir")):
        result = cli("upscale", target, "-o", tmp_path / "out", *FLAGS, "--mode", "multi", "--frames", "3",
                     "--debug-dir", tmp_path / "maps", *extra)
        assert result.exit_code == 1 and said in result.stderr
    assert not (tmp_path / "maps").exists() and not (tmp_path / "out").exists()


def test_a_cluster_that_cannot_be_reached_fails_a_folder_run_once_not_file_by_file(make_clip, tmp_path):
    """Each file failed with the same "cannot reach the Ray cluster" line (and the line of a cluster
    joined was named after the first file)."""
    make_clip("in/a.mp4", **CLIP)
    make_clip("in/b.mp4", **CLIP)

    class Unreachable:
        local = False

        @property
        def workers(self) -> int:
            raise ConfigError("cannot reach the Ray cluster at ray://head:10001: connection refused")

    with pytest.raises(ConfigError, match="cannot reach the Ray cluster"):
        upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, runner=Unreachable())
    assert not (tmp_path / "out").exists()  # the output folder it made, empty, goes


class Cancelled(Exception):
    """What a program's progress callback raises to stop a run."""


@pytest.mark.parametrize("segmented", [False, True])
def test_a_callback_that_raises_stops_a_folder_run_with_its_own_exception(make_clip, tmp_path, segmented):
    """It was recorded as the file's failure and the run went on (segmented: with the next file;
    plain: until the next call), or came back as 'PipelineError: segment 0: Cancelled'."""
    make_clip("in/a.mp4", **CLIP)
    make_clip("in/b.mp4", **CLIP)
    calls = []

    def cancel(done: int, total: int | None) -> None:
        calls.append(done)
        if done > 0:
            raise Cancelled("stop")

    with pytest.raises(Cancelled, match="^stop$"):
        upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, progress=cancel,
                       segment_seconds=0.5 if segmented else None)
    assert not (tmp_path / "out" / "b.mp4").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.mp4"))


def test_a_callback_that_raises_stops_a_segmented_run_with_its_own_exception(make_clip, tmp_path):
    from vsr.segments.run import upscale_in_segments

    source = make_clip("in.mp4", **CLIP)

    def cancel(done: int, total: int | None) -> None:
        if done > 0:
            raise Cancelled("stop")

    with pytest.raises(Cancelled, match="^stop$"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=0.5, progress=cancel)
    assert not (tmp_path / "out.mp4").exists()


def test_a_second_segmented_folder_run_into_the_same_folder_is_refused_while_the_first_runs(make_clip, tmp_path):
    """Both ran the same segments: files failed on both sides, work folders were left for good."""
    from vsr.errors import OutputError
    from vsr.segments.run import lock_folder

    make_clip("in/a.mp4", **CLIP)
    (tmp_path / "out").mkdir()
    held = lock_folder(tmp_path / "out", "held")  # what the first run holds while it runs
    try:
        with pytest.raises(OutputError, match=r"^another vsr run is upscaling a folder into .*out; wait for it"):
            upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, segment_seconds=0.5)
    finally:
        import os

        os.close(held)
    assert [o.state for o in upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, segment_seconds=0.5)] == ["done"]


def test_a_file_replaced_during_a_segmented_folder_run_fails_once_and_leaves_no_work(make_clip, tmp_path, caplog):
    """Each of its remaining segments said "changed during the run" again, and its work folder,
    of two files, stayed for a --resume that could only refuse it."""
    import logging
    import os
    import shutil

    make_clip("in/a.mp4", **CLIP)
    other = make_clip("other.mp4", **{**CLIP, "seed": 7})
    replaced = []

    def replace_once(done: int, total: int | None) -> None:
        if done and not replaced:
            shutil.copyfile(other, tmp_path / "swap.mp4")
            os.replace(tmp_path / "swap.mp4", tmp_path / "in" / "a.mp4")
            replaced.append(done)

    with caplog.at_level(logging.WARNING, logger="vsr"):
        outcomes = upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, segment_seconds=0.2, progress=replace_once)
    assert [o.state for o in outcomes] == ["failed"] and "changed during the run" in outcomes[0].detail
    assert sum("changed during the run" in m for m in caplog.messages) == 1
    assert not any(p.name.endswith(".vsr-work") for p in tmp_path.rglob("*"))


def test_a_file_changed_before_its_join_in_a_folder_run_leaves_no_work(make_clip, tmp_path):
    """Found at the join (after its last segment: a same-size rewrite passes the workers' check), its
    work folder stayed for good, which no --resume could use."""
    import os
    import shutil

    make_clip("in/a.mp4", **CLIP)
    other = make_clip("other.mp4", **{**CLIP, "seed": 7})
    replaced = []

    def replace_at_the_end(done: int, total: int | None) -> None:
        if done and done == total and not replaced:
            shutil.copyfile(other, tmp_path / "swap.mp4")
            os.replace(tmp_path / "swap.mp4", tmp_path / "in" / "a.mp4")
            replaced.append(done)

    outcomes = upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS, segment_seconds=0.2, progress=replace_at_the_end)
    assert replaced and [o.state for o in outcomes] == ["failed"] and "changed during the run" in outcomes[0].detail
    assert not any(p.name.endswith(".vsr-work") for p in tmp_path.rglob("*"))


def test_a_folder_run_names_its_own_warnings_not_those_of_a_run_in_another_thread(make_clip, tmp_path, caplog):
    """A program running a folder in one thread and a video in another: the video's warnings were
    said as the folder's file's ("b.mp4: webm cannot hold aac audio ...")."""
    import logging
    import threading

    import vsr
    import vsr.segments.folder as folder_run

    make_clip("in/a.mp4", **CLIP)
    lone = make_clip("lone.mp4", **CLIP)
    inside, release = threading.Event(), threading.Event()
    real = folder_run.upscale_video

    def held(source, *args, **kwargs):
        logging.getLogger("vsr.pipeline.run").warning("the folder's own warning")
        inside.set()
        release.wait(30)
        return real(source, *args, **kwargs)

    def other_thread() -> None:
        inside.wait(30)
        try:
            vsr.upscale_video(lone, tmp_path / "lone.webm", scale=2, model="bicubic")
        finally:
            release.set()

    folder_run.upscale_video = held
    try:
        thread = threading.Thread(target=other_thread)
        thread.start()
        with caplog.at_level(logging.WARNING, logger="vsr"):
            upscale_folder(tmp_path / "in", tmp_path / "out", LOSSLESS)
        thread.join(30)
    finally:
        folder_run.upscale_video = real
    said = [record.getMessage() for record in caplog.records]
    assert "a.mp4: the folder's own warning" in said
    opus = [line for line in said if "webm cannot hold aac" in line]
    assert opus and not any(line.startswith("a.mp4") for line in opus), said


def test_a_warning_from_a_stage_thread_of_the_folders_run_names_its_file(tmp_path, caplog):
    """The stage threads a file's run starts (decode, upscale, encode) inherit whose run they are."""
    import logging

    from vsr.pipeline.stages import Stages
    from vsr.segments.folder import warnings_naming

    with caplog.at_level(logging.WARNING, logger="vsr"), warnings_naming(tmp_path / "tape.mkv"):
        stages = Stages()
        stages.start("decode", lambda: logging.getLogger("vsr.media.decode").warning("a damaged packet"))
        stages.wait()
    assert [record.getMessage() for record in caplog.records] == ["tape.mkv: a damaged packet"]
