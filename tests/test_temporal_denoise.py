"""Motion-compensated temporal denoising (vsr.misr.denoise): the noise level it measures, its
weights, what it does to noisy, clean, moving and cut sequences, chroma and 10-bit planes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textures import fourier_shift, texture
from vsr.misr.denoise import TemporalDenoiser, TemporalDenoiseSettings, flow_scale, measured_sigma, temporal_weights


def _noisy(frames: list[np.ndarray], sigma: float, seed: int = 0, dtype=np.uint8, top: int = 255) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(np.rint(f + rng.normal(0, sigma, f.shape)), 0, top).astype(dtype) for f in frames]


def _denoise_all(frames: list[list[np.ndarray]], **kwargs) -> tuple[list[list[np.ndarray]], list[float]]:
    denoiser = TemporalDenoiser(**kwargs)
    for planes in frames:
        denoiser.push(planes[0])
    denoiser.finish()
    out, sigmas = [], []
    for t in range(len(frames)):
        assert denoiser.ready(t)
        planes, sigma = denoiser.denoise(t, {i: frames[i] for i in denoiser.window(t)})
        out.append(planes)
        sigmas.append(sigma)
    return out, sigmas


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


def test_the_measured_noise_level_is_that_of_the_best_aligned_neighbour():
    rng = np.random.default_rng(1)
    good = rng.normal(0, 6.0, (2, 64, 64)) - rng.normal(0, 6.0, (2, 64, 64))  # two frames' noise: σ√2
    bad = good.copy()
    bad[1, :, :40] += 80.0  # a neighbour that is misaligned over most of the frame
    assert measured_sigma(torch.tensor(good, dtype=torch.float32)) == pytest.approx(6.0, rel=0.05)
    assert measured_sigma(torch.tensor(bad, dtype=torch.float32)) == pytest.approx(6.0, rel=0.08)
    assert measured_sigma(torch.zeros(0, 8, 8)) == 0.0


def test_weights_keep_agreeing_neighbours_and_drop_differing_ones():
    differences = torch.zeros(2, 16, 16)
    differences[1] = 60.0
    weights = temporal_weights(differences, sigma=5.0, patch=5, strength=1.0)
    assert torch.allclose(weights[0], torch.ones(16, 16))
    assert float(weights[1].max()) < 1e-6


def test_a_static_noisy_scene_loses_most_of_its_noise():
    clean = texture(48, 64, seed=2)
    frames = [[plane] for plane in _noisy([clean] * 9, 10.0)]
    out, sigmas = _denoise_all(frames)
    assert all(8.0 < s < 11.0 for s in sigmas)
    middle = out[4][0]
    assert middle.dtype == np.uint8 and middle.shape == clean.shape
    assert _rms(middle, clean) < 0.5 * _rms(frames[4][0], clean)  # 7 frames: about σ/√7


def test_a_clean_static_scene_comes_out_unchanged():
    clean = np.rint(texture(40, 56, seed=3)).astype(np.uint8)
    out, sigmas = _denoise_all([[clean]] * 5)
    assert all(s == 0.0 for s in sigmas)
    assert all((planes[0] == clean).all() for planes in out)


def test_frames_measured_below_two_levels_of_noise_are_left_as_they_are():
    clean = texture(48, 64, seed=16)
    faint = [[plane] for plane in _noisy([clean] * 7, 1.0, seed=17)]
    out, sigmas = _denoise_all(faint)
    assert all(s < 2.0 for s in sigmas)
    assert all((o[0] == f[0]).all() for o, f in zip(out, faint))
    grain = [[plane] for plane in _noisy([clean] * 7, 3.0, seed=18)]
    out, sigmas = _denoise_all(grain)
    assert all(s >= 2.0 for s in sigmas) and (out[3][0] != grain[3][0]).any()


def test_moving_noisy_frames_are_aligned_before_averaging():
    base = texture(64, 80, seed=4, blur=2.0)
    clean = [fourier_shift(base, 1.3 * t, -0.6 * t) for t in range(7)]
    noisy = _noisy(clean, 8.0, seed=5)
    out, _ = _denoise_all([[plane] for plane in noisy])
    inner = (slice(8, -8), slice(8, -8))  # away from the edges the motion brings in
    before, after = _rms(noisy[3][inner], clean[3][inner]), _rms(out[3][0][inner], clean[3][inner])
    assert after < 0.6 * before


def test_frames_are_never_averaged_across_a_scene_cut():
    first, second = texture(48, 64, seed=6), texture(48, 64, seed=7)
    frames = [[plane] for plane in _noisy([first] * 4 + [second] * 4, 4.0, seed=8)]
    denoiser = TemporalDenoiser()
    for planes in frames:
        denoiser.push(planes[0])
    denoiser.finish()
    assert denoiser.cuts == [3]
    assert denoiser.window(3) == [3, 0, 1, 2] and denoiser.window(4) == [4, 5, 6, 7]
    out, _ = _denoise_all(frames)
    assert _rms(out[3][0], first) < _rms(frames[3][0], first)
    assert _rms(out[4][0], second) < _rms(frames[4][0], second)


def test_subsampled_chroma_is_averaged_with_the_luma_motion():
    luma, chroma = texture(48, 64, seed=9), texture(24, 32, seed=10)
    ys, us = _noisy([luma] * 7, 8.0, seed=11), _noisy([chroma] * 7, 8.0, seed=12)
    out, _ = _denoise_all([[y, u] for y, u in zip(ys, us)])
    assert out[3][1].shape == (24, 32) and out[3][1].dtype == np.uint8
    assert _rms(out[3][1], chroma) < 0.6 * _rms(us[3], chroma)


def test_ten_bit_planes_keep_their_range_and_noise_is_measured_in_8_bit_levels():
    clean = texture(40, 48, seed=13) * 4
    frames = [[plane] for plane in _noisy([clean] * 7, 40.0, seed=14, dtype=np.uint16, top=1023)]
    out, sigmas = _denoise_all(frames, max_value=1023)
    assert out[3][0].dtype == np.uint16 and int(out[3][0].max()) <= 1023
    assert 8.0 < sigmas[3] < 11.0  # σ 40 in 10-bit levels is 10 in 8-bit levels
    assert _rms(out[3][0], clean) < 0.5 * _rms(frames[3][0], clean)


def test_a_video_of_one_frame_is_returned_as_it_is():
    plane = np.rint(texture(32, 32, seed=15)).astype(np.uint8)
    out, sigmas = _denoise_all([[plane]])
    assert sigmas == [0.0] and (out[0][0] == plane).all()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="patch"):
        TemporalDenoiseSettings(patch=4)
    with pytest.raises(ValueError, match="radius"):
        TemporalDenoiseSettings(radius=0)


def test_the_flow_of_large_frames_is_estimated_at_135_to_270_lines():
    assert [flow_scale(h, 135) for h in (48, 144, 270, 480, 540, 576, 1080, 2160)] == [0, 0, 1, 1, 2, 2, 3, 4]
    denoiser = TemporalDenoiser()
    with pytest.raises(RuntimeError, match="none was pushed"):
        denoiser.window(0)
    assert denoiser.count == 0 and not denoiser.ready(0)
