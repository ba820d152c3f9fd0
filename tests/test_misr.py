"""Known-answer tests of the multi-frame mode's parts: flow, warping, degradation, fusion, cuts.

Everything runs on tiny synthetic frames (a few dozen pixels a side), so the whole file takes
a few seconds on two cores.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.eval.metrics import psnr
from vsr.misr import MultiFrameSettings, MultiFrameSR, check_frames
from vsr.misr.align import (
    FlowEstimator,
    consistency_confidence,
    estimate_flow,
    upscale_flow,
    warp,
)
from vsr.misr.fuse import FusionSettings, bi_downscale, bicubic_upscale, fuse
from vsr.resample.matlab import imresize


def texture(height: int, width: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """A smooth random texture in 8-bit levels (float32): band-limited, so sub-pixel shifts are exact."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    smooth = (smooth - smooth.mean()) / smooth.std()
    return np.clip(128 + 45 * smooth, 0, 255).astype(np.float32)


def fourier_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`image` moved by (dx, dy) pixels (out(x) = image(x − d)), exact for periodic band-limited images."""
    h, w = image.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * phase)).astype(np.float32)


# --- alignment --------------------------------------------------------------------------------


@pytest.mark.parametrize("dx, dy", [(2.0, -1.0), (0.3, 0.7), (-1.25, 0.5), (0.0, 0.0)])
def test_flow_recovers_a_known_integer_or_subpixel_shift_within_a_tenth_of_a_pixel(dx, dy):
    ref = texture(64, 80, seed=1)
    src = fourier_shift(ref, dx, dy)  # src(x + d) = ref(x): the flow from ref to src is d
    flow = estimate_flow(np.clip(np.rint(ref), 0, 255).astype(np.uint8), np.clip(np.rint(src), 0, 255).astype(np.uint8))
    assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert abs(float(np.median(inner[..., 0])) - dx) < 0.1
    assert abs(float(np.median(inner[..., 1])) - dy) < 0.1
    assert float(np.mean(np.hypot(inner[..., 0] - dx, inner[..., 1] - dy))) < 0.1


def test_flow_accepts_ten_bit_planes():
    ref = texture(48, 48, seed=2)
    src = fourier_shift(ref, 1.0, 0.0)
    as10 = lambda a: np.clip(np.rint(a * 4), 0, 1023).astype(np.uint16)  # noqa: E731
    flow = FlowEstimator(max_value=1023)(as10(ref), as10(src))
    assert abs(float(np.median(flow[8:-8, 8:-8, 0])) - 1.0) < 0.1


def test_warping_by_a_constant_integer_flow_equals_a_shift():
    image = torch.from_numpy(texture(20, 24, seed=3))[None, None]
    flow = torch.zeros(1, 2, 20, 24)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # out(x, y) = image(x + 3, y − 2)
    for mode in ("bilinear", "bicubic", "nearest"):
        out = warp(image, flow, mode=mode)
        torch.testing.assert_close(out[0, 0, 2:, :-3], image[0, 0, :-2, 3:], atol=1e-3, rtol=0)


def test_warping_by_a_constant_subpixel_flow_equals_linear_interpolation():
    image = torch.from_numpy(texture(16, 16, seed=4))[None, None]
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = 0.25
    out = warp(image, flow, mode="bilinear")
    expected = 0.75 * image[..., :, :-1] + 0.25 * image[..., :, 1:]
    torch.testing.assert_close(out[..., :, :-1], expected, atol=1e-3, rtol=0)


def test_warp_with_zero_flow_is_the_identity():
    image = torch.from_numpy(texture(12, 18, seed=5))[None, None]
    for mode in ("bilinear", "bicubic"):
        torch.testing.assert_close(warp(image, torch.zeros(1, 2, 12, 18), mode=mode), image, atol=1e-3, rtol=0)


def test_upscaled_flow_keeps_a_constant_motion_in_hr_pixels():
    flow = torch.zeros(1, 2, 5, 7)
    flow[:, 0], flow[:, 1] = 0.5, -0.25
    up = upscale_flow(flow, 4)
    assert up.shape == (1, 2, 20, 28)
    torch.testing.assert_close(up[:, 0], torch.full((1, 20, 28), 2.0))
    torch.testing.assert_close(up[:, 1], torch.full((1, 20, 28), -1.0))


def test_forward_backward_consistency_trusts_inverse_flows_and_rejects_the_rest():
    fw = torch.zeros(1, 2, 16, 16)
    fw[:, 0] = 1.0
    good = consistency_confidence(fw, -fw)
    bad = consistency_confidence(fw, fw)  # the round trip misses by 2 px
    assert float(good[..., :, :14].min()) > 0.99
    assert float(good[..., :, 15:].max()) == 0.0  # x + f(x) leaves the frame: nothing to align with
    assert float(bad.max()) < 0.01


# --- degradation model -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("antialias", [True, False])
def test_bi_downscale_is_matlab_imresize_borders_included(scale, antialias):
    image = np.random.default_rng(scale).uniform(0, 255, (7 * scale, 5 * scale)).astype(np.float32)
    expected = imresize(image, 1 / scale, antialias=antialias)
    got = bi_downscale(torch.from_numpy(image)[None, None], scale, antialias)[0, 0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_upscale_is_torch_bicubic(scale):
    x = torch.rand(2, 1, 6, 9) * 255
    expected = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(bicubic_upscale(x, scale), expected, atol=1e-3, rtol=0)


# --- fusion -----------------------------------------------------------------------------------


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


def test_fuse_with_one_frame_is_back_projection_of_the_reference():
    lr = torch.from_numpy(texture(12, 12, seed=7))[None, None]
    init = bicubic_upscale(lr, 2)
    zeros = torch.zeros(1, 1, 2, 12, 12)
    out = fuse(init, lr, zeros, zeros, torch.ones(1, 1, 12, 12), torch.ones(1, 1, 12, 12), 2, FusionSettings(iterations=0))
    torch.testing.assert_close(out, init)
    out = fuse(init, lr, zeros, zeros, torch.ones(1, 1, 12, 12), torch.ones(1, 1, 12, 12), 2, FusionSettings(iterations=20))
    # back-projection makes the estimate more consistent with its own LR frame
    assert float((bi_downscale(out, 2) - lr).abs().mean()) < 0.9 * float((bi_downscale(init, 2) - lr).abs().mean())


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
        check_frames(frames)


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


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_adjoint_of_the_downscale_is_its_transpose(scale):
    from vsr.misr.fuse import bi_downscale_adjoint

    gen = torch.Generator().manual_seed(scale)
    x = torch.rand(2, 1, 6 * scale, 5 * scale, generator=gen, dtype=torch.float64)
    g = torch.rand(2, 1, 6, 5, generator=gen, dtype=torch.float64)
    for antialias in (True, False):
        lhs = float((bi_downscale(x, scale, antialias) * g).sum())
        rhs = float((x * bi_downscale_adjoint(g, scale, antialias)).sum())
        assert lhs == pytest.approx(rhs, rel=1e-9)


def test_the_conjugate_gradient_solver_fuses_identical_frames_like_one():
    lr = torch.from_numpy(texture(16, 16, seed=17))[None, None]
    init = bicubic_upscale(lr, 2)
    settings = FusionSettings(solver="cg", iterations=4, reweights=2)
    one = fuse(init, lr, torch.zeros(1, 1, 2, 16, 16), torch.zeros(1, 1, 2, 16, 16),
               torch.ones(1, 1, 16, 16), torch.ones(1, 1, 16, 16), 2, settings)
    lr5 = lr.expand(1, 5, 16, 16).contiguous()
    five = fuse(init, lr5, torch.zeros(1, 5, 2, 16, 16), torch.zeros(1, 5, 2, 16, 16),
                torch.ones(1, 5, 16, 16), torch.ones(1, 5, 16, 16), 2, settings)
    assert float((bi_downscale(one, 2) - lr).abs().mean()) < float((bi_downscale(init, 2) - lr).abs().mean())
    # the same data five times is the same least-squares problem with a weaker prior: close, not equal
    assert float((one - five).abs().mean()) < 1.0


@pytest.mark.parametrize("bad", [{"iterations": -1}, {"robust": "huber"}, {"robust_window": 2}, {"solver": "sgd"},
                                 {"warp_mode": "nearest"}, {"step": 0}])
def test_invalid_fusion_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        FusionSettings(**bad)


# --- the side-by-side video evaluation (vsr.eval.video) -------------------------------------------


def test_temporal_mae_is_zero_for_the_truth_and_counts_flicker():
    from vsr.eval.video import temporal_mae

    truth = [np.full((8, 8), 100.0 + t) for t in range(4)]
    assert temporal_mae(truth, truth) == 0.0
    flicker = [t + (3.0 if i % 2 else 0.0) for i, t in enumerate(truth)]
    assert temporal_mae(flicker, truth) == pytest.approx(3.0)
    assert math.isnan(temporal_mae(truth[:1], truth[:1]))


def test_evaluate_video_reports_every_method_per_sequence(tmp_path):
    from vsr.eval.video import evaluate_video, format_video_report
    from vsr.models import load_model

    for name, seed in (("a", 20), ("b", 21)):
        folder = tmp_path / "set" / name
        folder.mkdir(parents=True)
        base = texture(72, 88, seed=seed, blur=1.0)
        for t in range(3):
            rgb = np.repeat(np.clip(fourier_shift(base, 0.7 * t, 0.3 * t), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            cv2.imwrite(str(folder / f"hr_{t:02d}.png"), rgb)
    seen = []
    report = evaluate_video(tmp_path / "set", model=load_model("bicubic", 4), scale=4, frames=3,
                            methods=("bicubic", "single", "multi"), progress=lambda s, m: seen.append((s, m)))
    assert [s.name for s in report.sequences] == ["a", "b"]
    assert seen == [(s, m) for s in ("a", "b") for m in ("bicubic", "single", "multi")]
    for seq in report.sequences:
        assert seq.frames == 3 and seq.hr_size == (72, 88)
        assert set(seq.scores) == {"bicubic", "single", "multi"}
        assert all(math.isfinite(s.psnr) and 0 < s.ssim <= 1 for s in seq.scores.values())
    table = format_video_report(report)
    assert "mean" in table and "multi − single" in table
    assert set(report.to_dict()["mean"]) == {"bicubic", "single", "multi"}
