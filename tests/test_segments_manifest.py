"""vsr.segments.manifest: the resumable record of a segmented job."""

from __future__ import annotations

import hashlib
import json

import pytest

from vsr.errors import ConfigError, InputError, OutputError
from vsr.files import atomic_path, file_sha256, write_text_atomic
from vsr.options import ModelOptions, UpscaleOptions
from vsr.segments.manifest import MANIFEST_NAME, Manifest, State, input_digest
from vsr.segments.plan import Segment

PLAN = [Segment(0, 0, 30, 30), Segment(1, 30, 60, 30), Segment(2, 60, None, 12)]
OPTIONS = UpscaleOptions(model=ModelOptions(name="espcn", scale=2))


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "film.mkv"
    path.write_bytes(b"not really a film, but bytes to hash" * 1000)
    return path


def test_a_saved_manifest_loads_back_the_same_and_leaves_no_temporary_file(tmp_path, source):
    work = tmp_path / "work"
    work.mkdir()
    manifest = Manifest.new(source, OPTIONS, PLAN).finished(1, frames=30, size=12345)
    manifest.save(work)
    assert sorted(p.name for p in work.iterdir()) == [MANIFEST_NAME]
    assert Manifest.load(work) == manifest
    assert [r.state for r in manifest.segments] == [State.PENDING, State.DONE, State.PENDING]
    assert manifest.pending == [PLAN[0], PLAN[2]]


def test_a_manifest_for_another_input_or_other_options_is_refused(tmp_path, source):
    manifest = Manifest.new(source, OPTIONS, PLAN)
    assert manifest.for_job(source, OPTIONS.replace(run={"overwrite": True})) is manifest  # run options do not count
    with pytest.raises(ConfigError, match="other options"):
        manifest.for_job(source, OPTIONS.replace(encode={"crf": 20}))
    source.write_bytes(source.read_bytes() + b"!")
    with pytest.raises(ConfigError, match="another input"):
        manifest.for_job(source, OPTIONS)


def test_a_weight_file_replaced_under_the_same_name_is_refused(tmp_path, source):
    """A resume mixed two models in one video: the digest named the file, not its weights."""
    from tinymodels import write_weight_file

    weights = write_weight_file(tmp_path / "w.pt", scale=2, seed=1)
    options = OPTIONS.replace(model={"name": str(weights)})
    manifest = Manifest.new(source, options, PLAN)
    assert manifest.for_job(source, options) is manifest
    write_weight_file(weights, scale=2, seed=2)
    with pytest.raises(ConfigError, match="other weights of the model .*w.pt .its weight file was replaced"):
        manifest.for_job(source, options)
    saved = tmp_path / "work"
    saved.mkdir()
    manifest.save(saved)
    assert Manifest.load(saved).weights_sha256 == manifest.weights_sha256 != ""
    raw = json.loads((saved / MANIFEST_NAME).read_text())
    del raw["weights_sha256"]  # as vsr wrote it before the field: it resumes as it did
    (saved / MANIFEST_NAME).write_text(json.dumps(raw))
    older = Manifest.load(saved)
    assert older.for_job(source, options) is older


def test_a_missing_or_foreign_manifest_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nothing to resume"):
        Manifest.load(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text('{"format": 99}')
    with pytest.raises(InputError, match="not a vsr manifest"):
        Manifest.load(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{half")
    with pytest.raises(InputError, match="not a vsr manifest"):
        Manifest.load(tmp_path)


def test_a_failed_save_leaves_no_temporary_file(tmp_path, source):
    work = tmp_path / "work"
    (work / MANIFEST_NAME).mkdir(parents=True)  # something in the way: the rename fails
    (work / MANIFEST_NAME / "keep").write_text("x")
    with pytest.raises(OutputError, match="Is a directory"):
        Manifest.new(source, OPTIONS, PLAN).save(work)
    assert sorted(p.name for p in work.iterdir()) == [MANIFEST_NAME]


def test_atomic_writes_appear_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temp:
        temp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with pytest.raises(OSError), atomic_path(tmp_path / "missing" / "out.txt") as temp:
        temp.write_text("nowhere to go")
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_manifest_on_a_full_disk_is_a_one_line_output_error(tmp_path, monkeypatch):
    """A full work folder: "OSError: [Errno 28] No space left on device (run again with --debug ...)"."""
    import errno
    from pathlib import Path

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputError, match=r"^cannot write .*manifest.json: No space left on device$"):
        write_text_atomic(tmp_path / "manifest.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_input_digest_is_the_files_sha256(source):
    assert input_digest(source) == file_sha256(source) == hashlib.sha256(source.read_bytes()).hexdigest()
