"""Training degradations: the single operations, the real codec pass, the seeded chain and the
degraded patch sampler that `vsr train` uses with a [degrade] table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.degrade.chain import CLEAN, Blur, Chain, CodecPass, Jpeg, Noise, Resize, degrade_clip, sample_chain
from vsr.degrade.config import DegradeConfig
from vsr.degrade.ops import gaussian_kernel, jpeg, poisson_noise
from vsr.errors import ConfigError
from vsr.eval.metrics import psnr
from vsr.eval.protocol import Pair, y_pair
from vsr.media.codec_pass import codec_round_trip
from vsr.resample.matlab import imresize, to_uint8
from vsr.train.config import config_from_dict, load_config
from vsr.train.degraded import DegradedPatchSampler, degraded_validation

from textures import texture

REPO = Path(__file__).resolve().parents[1]


def _luma(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    return texture(height, width, seed=seed).astype(np.uint8)


def _pan(frames: int = 4, size: int = 48) -> list[np.ndarray]:
    big = _luma(96, 96)
    return [np.ascontiguousarray(big[2 * i : 2 * i + size, i : i + size]) for i in range(frames)]


def test_gaussian_kernels_are_normalised_and_oriented():
    round_kernel = gaussian_kernel(1.5, 1.5, 0.0)
    assert round_kernel.shape == (11, 11) and abs(round_kernel.sum() - 1.0) < 1e-5
    assert np.allclose(round_kernel, round_kernel.T, atol=1e-7)
    wide = gaussian_kernel(3.0, 0.5, 0.0)  # long along x
    assert wide[wide.shape[0] // 2].sum() > wide[:, wide.shape[1] // 2].sum() * 3
    turned = gaussian_kernel(3.0, 0.5, np.pi / 2)  # now long along y
    assert np.allclose(turned, wide.T, atol=1e-6)


@pytest.mark.parametrize("codec, quality", [("libx264", {"crf": 35}), ("mpeg2video", {"bitrate": 60_000}),
                                            ("mpeg4", {"bitrate": 60_000})])
def test_codec_pass_keeps_the_frames_and_damages_them(codec, quality):
    clip = _pan()
    out = codec_round_trip(clip, codec, **quality)
    assert len(out) == len(clip)
    assert all(o.shape == c.shape and o.dtype == np.uint8 for o, c in zip(out, clip))
    scores = [psnr(o, c) for o, c in zip(out, clip)]
    assert all(18.0 < s < 45.0 for s in scores), scores  # damaged, yet the same pictures


def test_codec_pass_quality_follows_the_crf():
    clip = _pan()
    fine = np.mean([psnr(o, c) for o, c in zip(codec_round_trip(clip, "libx264", crf=12), clip)])
    coarse = np.mean([psnr(o, c) for o, c in zip(codec_round_trip(clip, "libx264", crf=40), clip)])
    assert fine > coarse + 6.0


def test_codec_pass_refuses_unknown_codecs_and_odd_sizes():
    with pytest.raises(ConfigError, match="unknown codec 'libfoo'"):
        codec_round_trip(_pan(), "libfoo", crf=20)
    with pytest.raises(ConfigError, match="must be even"):
        codec_round_trip([np.zeros((31, 32), np.uint8)] * 3, "libx264", crf=20)


def test_jpeg_and_poisson_noise_behave():
    plane = _luma().astype(np.float32)
    assert psnr(jpeg(plane, 95), plane) > psnr(jpeg(plane, 30), plane) + 3.0
    rng = np.random.default_rng(0)
    dark, bright = np.full((64, 64), 20.0, np.float32), np.full((64, 64), 230.0, np.float32)
    assert np.std(poisson_noise(bright, 1.0, rng)) > 2.0 * np.std(poisson_noise(dark, 1.0, rng))


def test_degrade_clip_gives_the_lr_size_and_keeps_the_frame_count():
    clip = _pan(frames=3, size=64)
    chain = Chain(steps=(Blur(gaussian_kernel(1.0, 1.0, 0.0), (1.0, 1.0)), Resize(0.7, "area"), Noise(sigma=5.0)),
                  final_mode="bicubic", last=CodecPass("libx264", crf=30, preset="ultrafast"))
    out = degrade_clip(clip, (16, 16), chain, np.random.default_rng(1))
    assert len(out) == 3 and all(o.shape == (16, 16) and o.dtype == np.uint8 for o in out)
    one = degrade_clip(clip[:1], (20, 24), Chain((), "matlab", Jpeg(50)), np.random.default_rng(1))
    assert one[0].shape == (20, 24)


def test_the_clean_chain_is_the_benchmark_downscale():
    hr = _luma(64, 64)
    lr = degrade_clip([hr], (16, 16), CLEAN, np.random.default_rng(0))[0]
    expected = to_uint8(imresize(hr, 0.25))
    assert np.array_equal(lr, expected)


def test_chains_are_seeded_and_cover_the_configured_mix():
    config = DegradeConfig().check()
    draws = [sample_chain(config, np.random.default_rng(7)) for _ in range(2)]
    assert repr(draws[0]) == repr(draws[1])
    rng = np.random.default_rng(0)
    chains = [sample_chain(config, rng) for _ in range(400)]
    clean = sum(c.clean for c in chains) / len(chains)
    codec = sum(isinstance(c.last, CodecPass) for c in chains) / len(chains)
    assert abs(clean - config.clean_prob) < 0.07
    assert abs(codec - config.codec_prob * (1 - config.clean_prob)) < 0.08
    assert {c.last.codec for c in chains if isinstance(c.last, CodecPass)} == set(config.codecs)


def test_a_codec_only_chain_is_the_benchmark_downscale_then_the_codec():
    """The streaming models' recipe: no blur or noise, the MATLAB downscale, x264 and nothing else."""
    config = load_config(str(REPO / "configs" / "train" / "stream_x2.toml")).degrade
    assert config is not None
    rng = np.random.default_rng(0)
    chains = [sample_chain(config, rng) for _ in range(200)]
    assert all(c.steps == () and c.final_mode == "matlab" for c in chains)
    assert {c.last.codec for c in chains if not c.clean} == {"libx264"}
    assert all(config.x264_crf[0] <= c.last.crf <= config.x264_crf[1] for c in chains if not c.clean)
    hr = _luma(64, 64)
    lr = degrade_clip([hr] * 3, (16, 16), chains[0], rng)
    assert not chains[0].clean and len(lr) == 3
    clean = to_uint8(imresize(hr, 0.25))
    expected = codec_round_trip([clean] * 3, "libx264", crf=chains[0].last.crf, preset=chains[0].last.preset)
    assert all(np.array_equal(a, b) for a, b in zip(lr, expected))
    assert not np.array_equal(lr[0], clean)


def test_degrade_config_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="final_resize_modes must be some of"):
        DegradeConfig(final_resize_modes=("nearest",)).check()
    with pytest.raises(ConfigError, match="clean_prob must be in"):
        DegradeConfig(clean_prob=1.5).check()
    with pytest.raises(ConfigError, match="codecs must be some of"):
        DegradeConfig(codecs=("libfoo",), codec_weights=(1.0,)).check()
    with pytest.raises(ConfigError, match="noise_sigma must be"):
        DegradeConfig(noise_sigma=(10.0, 1.0)).check()
    raw = {
        "model": {"arch": "espcn", "scale": 2, "hparams": {"features": [8, 8]}},
        "data": {"train_dirs": [str(tmp_path)], "patch_size": 12},
        "train": {"iterations": 1, "output": str(tmp_path / "run")},
        "degrade": {"clean_prob": 0.5, "x264_crf": [20, 30]},
    }
    cfg = config_from_dict(raw)
    assert cfg.degrade.clean_prob == 0.5 and cfg.degrade.x264_crf == (20, 30)
    assert cfg.to_dict()["degrade"]["x264_crf"] == [20, 30]
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[degrade\]: blurr"):
        config_from_dict({**raw, "degrade": {"blurr": 1.0}})


@pytest.mark.parametrize("key, value, message", [
    ("x264_presets", ["superduper"], "x264_presets must be some of ultrafast, superfast"),
    ("x264_crf", [60, 80], "x264_crf must be within libx264's 0..51, got [60, 80]"),
    ("jpeg_quality", [150, 300], "jpeg_quality must be within 1..100"),
    ("blur_sigma", ["a", "b"], "blur_sigma must be a list of numbers, got ['a', 'b']"),
    ("codec_weights", ["a", "b", "c"], "codec_weights must be a list of numbers"),
    ("clip_frames", [3.5, 4.5], "clip_frames must be a list of whole numbers"),
    ("second_at_lr", 1, "second_at_lr must be true or false, got 1"),
    ("x264_crf", 23, "x264_crf must be a list"),  # a TypeError, built directly
    ("blur_sigma", [0.0, 0.0], "blur_sigma must be above 0, got [0.0, 0.0]; to leave the blur out, set blur_prob = 0"),
    ("blur2_sigma", [0.0, 1.0], "blur2_sigma must be above 0"),  # NaN kernels: a model trained on black inputs
    ("clip_shift", -2.0, "clip_shift must be a number of LR pixels >= 0, got -2.0"),  # "low >= high" mid-training
    ("clip_shift", float("nan"), "clip_shift must be a number of LR pixels >= 0, got nan"),
])
def test_a_degrade_value_that_would_fail_mid_training_is_refused_with_its_key(tmp_path, key, value, message):
    """A preset drawn at random failed hours in (and the fixed config could not --resume); a string in a
    range was a TypeError naming no key; a CRF of 80 or a JPEG quality of 300 was taken in silence."""
    raw = {
        "model": {"arch": "espcn", "scale": 2, "hparams": {"features": [8, 8]}},
        "data": {"train_dirs": [str(tmp_path)], "patch_size": 12},
        "train": {"iterations": 1, "output": str(tmp_path / "run")},
        "degrade": {key: value},
    }
    with pytest.raises(ConfigError, match=re.escape(f"[degrade] {message}")):
        config_from_dict(raw)
    with pytest.raises(ConfigError, match=re.escape(f"[degrade] {message}")):  # and built directly
        DegradeConfig(**{key: tuple(value) if isinstance(value, list) else value}).check()


def _sampler(**config: object) -> DegradedPatchSampler:
    pairs = []
    for seed in range(3):
        hr = _luma(96, 128, seed=seed)
        lr, hr = y_pair(np.repeat(hr[..., None], 3, axis=2), 2)
        pairs.append(Pair(f"img{seed}", lr, hr))
    return DegradedPatchSampler(pairs, dataclasses.replace(DegradeConfig(), **config).check(),
                                scale=2, patch_size=16, batch_size=6)


def test_the_degraded_sampler_is_seeded_and_shaped():
    sampler = _sampler()
    first = sampler.sample(torch.Generator().manual_seed(5))
    again = sampler.sample(torch.Generator().manual_seed(5))
    other = sampler.sample(torch.Generator().manual_seed(6))
    assert first[0].shape == (6, 1, 16, 16) and first[1].shape == (6, 1, 32, 32)
    assert first[0].dtype == torch.float32 and 0.0 <= float(first[0].min()) and float(first[0].max()) <= 1.0
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_the_degraded_sampler_targets_match_their_inputs():
    """Codec-only damage: each LR patch is still its target's downscale, with artefacts on top."""
    sampler = _sampler(clean_prob=0.0, blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0, second_prob=0.0,
                       resize_probs=(0.0, 0.0, 1.0), codec_prob=1.0, final_jpeg_prob=0.0, x264_crf=(18, 22),
                       codecs=("libx264",), codec_weights=(1.0,))
    lr, hr = sampler.sample(torch.Generator().manual_seed(0))
    down = torch.nn.functional.avg_pool2d(hr, 2)
    for k in range(lr.shape[0]):
        assert psnr(lr[k, 0].numpy() * 255, down[k, 0].numpy() * 255) > 25.0


def test_the_second_stage_at_the_lr_scale_keeps_its_noise():
    """Noise added after a resize relative to the LR size reaches the LR frame at full strength;
    added at the HR scale, the downscale averages most of it away."""
    flat = [np.full((64, 64), 128, np.uint8)]
    for of_lr, low, high in ((True, 8.0, 12.0), (False, 0.5, 4.0)):
        chain = Chain(steps=(Resize(1.0, "area", of_lr=of_lr), Noise(sigma=10.0)), final_mode="area", last=None)
        lr = degrade_clip(flat, (16, 16), chain, np.random.default_rng(0))[0]
        assert low < np.std(lr.astype(np.float32)) < high, (of_lr, np.std(lr))
    config = DegradeConfig(second_prob=1.0, second_at_lr=True).check()
    second = [sample_chain(config, np.random.default_rng(seed)) for seed in range(40)]
    assert any(isinstance(s, Resize) and s.of_lr for c in second for s in c.steps)


def test_final_noise_is_drawn_at_the_lr_size_before_the_codec():
    """The footage's own grain: drawn for the configured share of damaged chains, at full strength
    on the LR frame; at the default share of 0 a chain is what it was before the option existed."""
    config = DegradeConfig(final_noise_prob=0.5, poisson_prob=0.0, final_noise_sigma=(9.0, 11.0)).check()
    rng = np.random.default_rng(0)
    chains = [sample_chain(config, rng) for _ in range(400)]
    noisy = [c for c in chains if c.lr_noise is not None]
    assert not any(c.clean for c in noisy)
    assert abs(len(noisy) / len(chains) - 0.5 * (1 - config.clean_prob)) < 0.08
    assert all(9.0 <= c.lr_noise.sigma <= 11.0 for c in noisy)
    flat = [np.full((64, 64), 128, np.uint8)]
    lr = degrade_clip(flat, (16, 16), Chain((), "matlab", None, lr_noise=Noise(sigma=10.0)), np.random.default_rng(0))[0]
    assert 8.0 < np.std(lr.astype(np.float32)) < 12.0
    plain = [repr(sample_chain(DegradeConfig(), np.random.default_rng(seed))) for seed in range(20)]
    assert all("lr_noise=None" in r for r in plain)


def test_a_margin_keeps_patches_aligned_with_their_targets():
    sampler = _sampler(clean_prob=0.0, blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0, second_prob=0.0,
                       resize_probs=(0.0, 0.0, 1.0), codec_prob=1.0, final_jpeg_prob=0.0, x264_crf=(18, 22),
                       codecs=("libx264",), codec_weights=(1.0,), margin=8)
    lr, hr = sampler.sample(torch.Generator().manual_seed(0))
    assert lr.shape == (6, 1, 16, 16) and hr.shape == (6, 1, 32, 32)
    down = torch.nn.functional.avg_pool2d(hr, 2)
    for k in range(lr.shape[0]):
        assert psnr(lr[k, 0].numpy() * 255, down[k, 0].numpy() * 255) > 25.0
    with pytest.raises(ConfigError, match="margin must be an even number"):
        DegradeConfig(margin=3).check()


def test_x1_validation_pairs_are_damaged_once_and_seeded():
    pairs = [Pair(f"img{seed}", _luma(48, 50, seed), _luma(48, 50, seed)) for seed in range(3)]
    config = DegradeConfig(clean_prob=0.5).check()
    first, again = degraded_validation(pairs, config, 7), degraded_validation(pairs, config, 7)
    for pair, same, source in zip(first, again, pairs):
        assert pair.lr.shape == pair.hr.shape == (48, 50) and np.array_equal(pair.hr, source.hr)
        assert np.array_equal(pair.lr, same.lr)
        assert not np.array_equal(pair.lr, pair.hr)  # never a clean (identity) pair
