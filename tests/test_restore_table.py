"""scripts/restore_table.py's clip writer and its per-picture-type split (`--frame-types`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "restore_table.py"


@pytest.fixture(scope="module")
def restore_table():
    spec = importlib.util.spec_from_file_location("restore_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def panned_rgb(frames: int, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 256, (size + frames, size + frames, 3), dtype=np.uint8)
    return [np.ascontiguousarray(texture[t : t + size, t : t + size]) for t in range(frames)]


def test_picture_types_and_qp_of_a_compressed_clip(restore_table, tmp_path: Path) -> None:
    clip = tmp_path / "crf30.mp4"
    restore_table.write_lr_clip(panned_rgb(12), clip, "30", 0.0, seed=0)
    types = restore_table.picture_types(clip)
    assert len(types) == 12
    assert types[0][0] == "I"
    assert {kind for kind, _ in types[1:]} <= {"P", "B"} and len({kind for kind, _ in types}) > 1
    assert all(20 <= qp <= 51 for _, qp in types), types


def test_a_lossless_clip_has_qp_zero(restore_table, tmp_path: Path) -> None:
    clip = tmp_path / "lossless.mp4"
    restore_table.write_lr_clip(panned_rgb(4), clip, "qp0", 0.0, seed=0)
    assert [qp for _, qp in restore_table.picture_types(clip)] == [0.0] * 4
