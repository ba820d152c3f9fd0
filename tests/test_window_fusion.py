"""vsr.engine.windows.WindowFusion against the same fusion computed with the whole clip known
up front: streaming, batching, context frames and diagnostics must not change a single level."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinymodels import panned_lumas, random_module
from vsr.engine.bicubic import BicubicEngine
from vsr.engine.fusion import LearnedFusion
from vsr.engine.windows import WindowFusion, quantise
from vsr.misr import MultiFrameSettings, MultiFrameSR
from vsr.models import SRModel

torch.set_num_threads(1)


def _whole_clip_fuser(lows: list[np.ndarray], frames: int) -> MultiFrameSR:
    fuser = MultiFrameSR(2, MultiFrameSettings(frames=frames))
    for plane in lows:
        fuser.push(plane)
    fuser.finish()
    return fuser


def _tiny_fusion(frames: int = 3) -> LearnedFusion:
    module = random_module("multiframe", 2, {"channels": 8, "blocks": 1, "res_scale": 1.0, "frames": frames})
    return LearnedFusion(SRModel("multiframe", 2, module, False, None, frames=frames), "cpu", "fp32")


@pytest.mark.parametrize("batch_size", [1, 3])
def test_classical_fusion_streamed_is_the_fusion_of_the_whole_clip(batch_size):
    lows = panned_lumas(7, step=2, seed=3)
    engine = BicubicEngine(2)
    whole = _whole_clip_fuser(lows, 5)
    estimates = engine.collect(engine.submit(lows))
    expected = [quantise(whole.fuse([i], [estimates[i]]), 255, np.uint8)[0] for i in range(len(lows))]

    windows = WindowFusion(MultiFrameSR(2, MultiFrameSettings(frames=5)), engine, batch_size=batch_size)
    got: list[np.ndarray] = []
    for index, plane in enumerate(lows):
        got += windows.push(plane)
        assert len(got) <= max(0, index + 1 - 2)  # frame t waits for t+2
    got += windows.finish()
    assert len(got) == len(lows) and all(np.array_equal(g, e) for g, e in zip(got, expected))
    assert windows.batches == (len(lows) if batch_size == 1 else 3)  # 3 + 3 + the last one
    assert len(windows.fuser._frames) <= 5  # what no window needs any more was released


def test_learned_fusion_streamed_and_given_estimates_match_the_whole_clip():
    lows = panned_lumas(6, step=2, seed=3)
    fusion = _tiny_fusion()
    whole = _whole_clip_fuser(lows, 3)
    expected = [quantise(fusion.fuse(whole, [i]), 255, np.uint8)[0] for i in range(len(lows))]
    windows = WindowFusion(MultiFrameSR(2, MultiFrameSettings(frames=3)), fusion, batch_size=2)
    got = [y for plane in lows for y in windows.push(plane)] + windows.finish()
    assert all(np.array_equal(g, e) for g, e in zip(got, expected)) and len(got) == len(lows)

    # no engine: each push brings its estimate (how `vsr eval` reuses its single-frame results)
    estimates = [np.full((48, 64), 100.0, np.float32) for _ in lows]
    given = WindowFusion(MultiFrameSR(2, MultiFrameSettings(frames=3)))
    got = [y for plane, e in zip(lows, estimates) for y in given.push(plane, e)] + given.finish()
    whole = _whole_clip_fuser(lows, 3)
    assert all(np.array_equal(g, quantise(whole.fuse([i], [estimates[i]]), 255, np.uint8)[0]) for i, g in enumerate(got))
    with pytest.raises(ValueError, match="needs its single-frame estimate"):
        WindowFusion(MultiFrameSR(2, MultiFrameSettings(frames=3))).push(lows[0])


def test_context_frames_are_neighbours_only_and_diagnostics_are_kept_for_the_first_frames():
    lows = panned_lumas(7, step=2, seed=3)
    engine = BicubicEngine(2)
    whole = _whole_clip_fuser(lows, 5)
    estimates = engine.collect(engine.submit(lows))
    windows = WindowFusion(MultiFrameSR(2, MultiFrameSettings(frames=5)), engine, batch_size=2, diagnose=2)
    got: list[np.ndarray] = []
    for index, plane in enumerate(lows):
        got += windows.push(plane, emit=index not in (0, 1, 6))  # a segment of frames 2-5 with context
    got += windows.finish()
    assert len(got) == 4
    assert all(np.array_equal(g, quantise(whole.fuse([i], [estimates[i]]), 255, np.uint8)[0])
               for g, i in zip(got, range(2, 6)))
    assert [d.index for d in windows.diagnostics] == [2, 3]
    assert windows.diagnostics[0].window == [2, 0, 1, 3, 4]
