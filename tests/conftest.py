"""Shared fixtures: tiny synthetic clips made with PyAV inside tmp_path, and a clean `vsr` logger.

Clips are described by `videoclips.ClipSpec` keyword arguments, e.g.

    def test_x(make_clip):
        path = make_clip("in.mkv", audio=("opus",), frames=20)

Each distinct clip is encoded once per session and copied into the test's tmp_path, so tests
can write beside it, list the folder and compare outputs without paying for the encoder twice.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from videoclips import ClipSpec, write_audio_only, write_clip

# One intra-op thread: tiny tensors gain nothing from two, and two OpenMP threads collapse
# (10x and worse) when anything else keeps the cores busy.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
REAL_CLIP = REPO / ".." / "shared" / "data" / "clips" / "realshort.mp4"
"""A real clip outside the repository; the tests that use it skip when it is absent."""


@pytest.fixture(scope="session")
def _clip_cache(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return {"folder": tmp_path_factory.mktemp("clip-cache"), "paths": {}}


@pytest.fixture
def make_clip(tmp_path: Path, _clip_cache: dict):
    """Factory: `make_clip(name="clip.mp4", **ClipSpec fields) -> Path` of a fresh copy in tmp_path."""

    def make(name: str = "clip.mp4", **options) -> Path:
        spec = ClipSpec(**options)
        key = (Path(name).suffix, repr(spec))
        cached = _clip_cache["paths"].get(key)
        if cached is None:
            cached = _clip_cache["folder"] / f"{len(_clip_cache['paths'])}{Path(name).suffix}"
            write_clip(cached, spec)
            _clip_cache["paths"][key] = cached
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target)
        return target

    return make


@pytest.fixture
def make_audio_only(tmp_path: Path):
    """Factory: `make_audio_only(name="song.m4a", codec="aac") -> Path`: one audio stream, no video."""

    def make(name: str = "song.m4a", codec: str = "aac") -> Path:
        return write_audio_only(tmp_path / name, codec)

    return make


@pytest.fixture(autouse=True)
def _restore_vsr_logger():
    """The CLI points the `vsr` logger at the (test runner's) stderr and stops propagation; undo it,
    so that caplog sees the library's warnings in later tests and no handler writes to a closed stream."""
    logger = logging.getLogger("vsr")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture
def cli():
    """Run `vsr ARGS...` in-process; returns click's Result (exit_code, stdout, stderr)."""
    from vsr.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run

