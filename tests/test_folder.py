"""vsr.segments.folder: `vsr upscale DIR -o OUTDIR` upscales every video in DIR and says what
became of each (done / skipped / failed), failing only when a file failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_segments_join import CLIP, LOSSLESS
from videoclips import read_video
from vsr.errors import ConfigError, InputError
from vsr.segments.folder import default_output_folder, upscale_folder

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
    with pytest.raises(InputError, match="no video in"):
        upscale_folder(tmp_path / "empty", None, LOSSLESS)
