"""vsr.misr.stream: MultiFrameSR's windows, scene cuts, memory bound and fusion on synthetic sequences,
and the alignment record that the fusion reads.

Tiny synthetic frames (a few dozen pixels a side): the file takes a few seconds on two cores.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from textures import fourier_shift, texture
from vsr.eval.metrics import psnr
from vsr.misr import MultiFrameSettings, MultiFrameSR, WindowAlignment
from vsr.misr.fuse import FusionSettings, fuse
from vsr.resample.matlab import imresize


def _u8(plane: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(plane), 0, 255).astype(np.uint8)


def _frames(count: int, height: int = 32, width: int = 40, seed: int = 0, step: tuple[float, float] = (0.0, 0.0)):
    base = texture(height, width, seed=seed, blur=1.2)
    return [fourier_shift(base, step[0] * t, step[1] * t) for t in range(count)]


def _run(frames: list[np.ndarray], scale: int, settings: MultiFrameSettings, inits=None) -> list[np.ndarray]:
    mf = MultiFrameSR(scale, settings)
    for plane in frames:
        mf.push(np.clip(np.rint(plane), 0, 255).astype(np.uint8))
    mf.finish()
    inits = inits or [cv2.resize(p, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) for p in frames]
    out = mf.fuse(list(range(len(frames))), inits)
    return [o[0].numpy() for o in out]


def test_fusion_of_identical_frames_equals_the_single_frame_path():
    frame = _frames(1, seed=6)[0]
    multi = _run([frame] * 5, 2, MultiFrameSettings(frames=5))
    single = _run([frame] * 5, 2, MultiFrameSettings(frames=1))
    for m, s in zip(multi, single):
        np.testing.assert_allclose(m, s, atol=1e-2)


def test_fusion_recovers_detail_from_subpixel_shifted_aliased_frames():
    """A sharp HR image moved by known quarter-pixel shifts and downscaled without antialiasing:
    the five frames sample five of the sixteen phases, and fusion (with the matching degradation
    model, its own flow estimates) recovers much of what a single frame cannot."""
    scale = 4
    base = texture(168, 168, seed=8, blur=2.0)
    shifts = [(0, 0), (2, 1), (1, 3), (3, 2), (2, 2)]  # HR pixels
    hrs = [base[4 + dy : 164 + dy, 4 + dx : 164 + dx] for dx, dy in shifts]
    lrs = [imresize(h, 1 / scale, antialias=False) for h in hrs]
    fusion = FusionSettings(antialias=False)
    t, crop = 2, 8
    single = _run(lrs, scale, MultiFrameSettings(frames=1, fusion=fusion))[t]
    multi = _run(lrs, scale, MultiFrameSettings(frames=5, fusion=fusion))[t]
    bicubic = cv2.resize(lrs[t], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    gain = psnr(multi, hrs[t], border=crop) - psnr(single, hrs[t], border=crop)
    assert gain > 1.0, gain
    assert psnr(multi, hrs[t], border=crop) > psnr(bicubic, hrs[t], border=crop) + 1.0


def test_half_precision_fusion_agrees_with_float32():
    frames = _frames(5, seed=16, step=(0.4, 0.3))
    inits = [cv2.resize(p, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC) for p in frames]
    mf32 = MultiFrameSR(2, MultiFrameSettings(frames=5))
    mf16 = MultiFrameSR(2, MultiFrameSettings(frames=5), compute_dtype=torch.float16)
    for mf in (mf32, mf16):
        for plane in frames:
            mf.push(np.clip(np.rint(plane), 0, 255).astype(np.uint8))
        mf.finish()
    a = mf32.fuse([2], [inits[2]])
    b = mf16.fuse([2], [inits[2]])
    assert b.dtype == torch.float32
    assert float((a - b).abs().mean()) < 0.5 and math.isfinite(float(b.abs().max()))


# --- the alignment record ------------------------------------------------------------------------


def test_a_constant_shift_aligns_as_that_flow_with_full_confidence():
    step = (0.75, -0.5)  # LR pixels per frame: frame t+1 at x + step shows frame t at x
    mf = MultiFrameSR(2, MultiFrameSettings(frames=3))
    for plane in _frames(3, height=48, width=56, seed=18, step=step):
        mf.push(_u8(plane))
    aligned = mf.alignment(1)
    assert mf.window(1) == [1, 0, 2]
    assert aligned.lr.shape == (3, 48, 56) and aligned.to_ref.shape == (3, 2, 48, 56)
    assert aligned.confidence.shape == aligned.confidence_ref.shape == (3, 48, 56)
    inner = (slice(8, -8), slice(8, -8))
    for k, sign in ((1, -1.0), (2, 1.0)):  # the previous frame, then the next
        for axis in (0, 1):
            from_ref = aligned.from_ref[k, axis][inner]
            to_ref = aligned.to_ref[k, axis][inner]
            assert abs(float(from_ref.median()) - sign * step[axis]) < 0.1
            assert abs(float(to_ref.median()) + sign * step[axis]) < 0.1
        assert float(aligned.confidence[k][inner].median()) > 0.95
        assert float(aligned.confidence_ref[k][inner].median()) > 0.95
    # the reference aligns to itself: no flow and no weight
    assert not aligned.to_ref[0].any() and not aligned.from_ref[0].any()
    assert not aligned.confidence[0].any() and not aligned.confidence_ref[0].any()
    torch.testing.assert_close(aligned.lr[1], torch.from_numpy(_u8(_frames(1, 48, 56, seed=18)[0]).astype(np.float32)))


def test_the_fusion_reads_the_alignment_records_fields():
    frames = [_u8(p) for p in _frames(5, seed=19, step=(0.4, 0.3))]
    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    for plane in frames:
        mf.push(plane)
    mf.finish()
    inits = [cv2.resize(p, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC).astype(np.float32) for p in frames]
    batch = WindowAlignment.batch([mf.alignment(1), mf.alignment(2)])
    assert batch.lr.shape == (2, 5, 32, 40) and batch.from_ref.shape == (2, 5, 2, 32, 40)
    init = torch.from_numpy(np.stack(inits[1:3]))[:, None]
    expected = fuse(init, batch.lr, batch.to_ref, batch.from_ref, batch.confidence, batch.confidence_ref, 2,
                    FusionSettings())
    torch.testing.assert_close(mf.fuse([1, 2], inits[1:3]), expected, atol=0, rtol=0)


def test_alignment_of_a_frame_that_is_not_ready_is_refused():
    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    mf.push(_u8(_frames(1, seed=20)[0]))
    with pytest.raises(RuntimeError, match="not ready"):
        mf.alignment(0)


# --- windows and scene cuts -----------------------------------------------------------------------


def test_window_replicates_the_edges_and_stops_at_a_cut():
    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    scene_a = _frames(4, seed=10, step=(0.5, 0.0))
    scene_b = _frames(4, seed=11, step=(0.0, 0.5))
    for plane in scene_a + scene_b:
        mf.push(np.clip(np.rint(plane), 0, 255).astype(np.uint8))
    mf.finish()
    assert mf.cuts == [3]
    assert mf.window(0) == [0, 0, 0, 1, 2]
    assert mf.window(3) == [3, 1, 2, 3, 3]
    assert mf.window(4) == [4, 4, 4, 5, 6]
    assert mf.window(7) == [7, 5, 6, 7, 7]


@pytest.mark.parametrize("bars", [0.25, 0.4])
def test_a_cut_in_a_letterboxed_video_is_found(bars):
    """Black bars agree across any cut: with a quarter of the frame in bars no cut was ever found, and
    the frames after a cut were fused with the other scene's (up to 43 levels off)."""
    def boxed(planes: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for plane in planes:
            frame = np.full((64, 40), 16.0, np.float32)
            top = round(64 * bars / 2)
            frame[top : top + 64 - 2 * top] = cv2.resize(plane, (40, 64 - 2 * top))
            out.append(frame)
        return out

    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    for plane in boxed(_frames(4, seed=10, step=(0.5, 0.0))) + boxed(_frames(4, seed=11, step=(0.0, 0.5))):
        mf.push(_u8(plane))
    mf.finish()
    assert mf.cuts == [3]


def test_a_cut_to_black_is_one_and_black_to_black_none():
    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    still = _frames(1, seed=12)[0]
    for plane in [still, still, np.full_like(still, 16.0), np.full_like(still, 16.0)]:
        mf.push(_u8(plane))
    mf.finish()
    assert mf.cuts == [1]  # the picture to black is one; black to black is none


def test_a_scene_cut_produces_no_blend_of_the_two_scenes():
    settings = MultiFrameSettings(frames=5)
    scene_a = _frames(4, seed=12, step=(0.5, 0.25))
    scene_b = _frames(4, seed=13, step=(-0.5, 0.0))
    both = _run(scene_a + scene_b, 2, settings)
    alone_a = _run(scene_a, 2, settings)
    alone_b = _run(scene_b, 2, settings)
    # every frame comes out exactly as if the other scene did not exist
    for got, expected in zip(both, alone_a + alone_b):
        np.testing.assert_allclose(got, expected, atol=1e-2)


def test_a_ready_frame_needs_its_future_neighbours_unless_a_cut_or_the_end_comes_first():
    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    frames = _frames(6, seed=14, step=(0.3, 0.0))
    u8 = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in frames]
    mf.push(u8[0])
    mf.push(u8[1])
    assert not mf.ready(0)
    mf.push(u8[2])
    assert mf.ready(0) and not mf.ready(1)
    mf.push(u8[3])
    mf.finish()
    assert all(mf.ready(i) for i in range(4)) and not mf.ready(4)


def test_release_bounds_what_is_kept():
    mf = MultiFrameSR(2, MultiFrameSettings(frames=5))
    for t, plane in enumerate(_frames(12, seed=15, step=(0.2, 0.1))):
        mf.push(np.clip(np.rint(plane), 0, 255).astype(np.uint8))
        ref = t - 2
        if ref >= 0:
            mf.fuse([ref], [np.zeros((64, 80), np.float32)])
            mf.release(ref + 1)
            assert len(mf._frames) <= 5
            assert len(mf._flows) <= 2 * 4 * 3




@pytest.mark.parametrize("frames", [0, 2, 17, -1, True])
def test_invalid_window_lengths_are_rejected(frames):
    with pytest.raises(ValueError, match="odd"):
        MultiFrameSettings(frames=frames)
