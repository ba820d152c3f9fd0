"""Every registry entry (bicubic included): builds at each scale, odd and minimal sizes, checkpoint round
trip, descriptor; shipped weights beat bicubic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.errors import InputError, UnsupportedModelError
from vsr.eval.metrics import psnr
from vsr.media.codec_pass import codec_round_trip
from vsr.models import (
    SRModel,
    build,
    checkpoint_dict,
    default_model_name,
    load_model,
    load_model_file,
    model_names,
    save_checkpoint,
    shipped_models,
    weights_path,
)
from vsr.models.layers import BicubicSkip
from vsr.models.registry import ARCHS, BI, CODEC, DAMAGED, MULTI_FRAME_ARCHS, get_arch
from vsr.resample.matlab import imresize

REPO = Path(__file__).resolve().parents[1]
ENTRIES = [(name, s) for name, spec in (ARCHS | MULTI_FRAME_ARCHS).items() for s in spec.scales]
SHIPPED = shipped_models()
# A shipped model must beat MATLAB-style bicubic on the synthetic test card by at least this much (dB).
# Measured gains of the shipped models: 1.7 (srcnn x4) to 9.9 dB (residual x2).
MARGIN_DB = 1.0

torch.set_num_threads(1)


def _perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Randomise every parameter, so that zero-initialised layers take part in the checks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return module.eval()


def test_model_names_lists_bicubic_first_and_every_single_frame_entry():
    names = model_names()
    assert names[0] == "bicubic"
    assert names == list(ARCHS) and set(names) >= {"espcn", "fsrcnn", "srcnn", "residual"}
    assert not set(names) & set(MULTI_FRAME_ARCHS)


@pytest.mark.parametrize("name,scale", ENTRIES)
def test_builds_and_output_is_scale_times_odd_input(name, scale):
    module = _perturbed(build(name, scale))
    x = torch.rand(2, getattr(module, "in_channels", 1), 13, 7)  # multi-frame models take a window
    with torch.inference_mode():
        y = module(x)
    assert y.shape == (2, 1, 13 * scale, 7 * scale)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name,scale", ENTRIES)
def test_the_smallest_input_the_entry_declares_runs(name, scale):
    spec = get_arch(name)
    side = max(spec.min_size, spec.size_multiple)
    module = build(name, scale).eval()
    with torch.inference_mode():
        y = module(torch.rand(1, getattr(module, "in_channels", 1), side, 2 * side))
    assert y.shape == (1, 1, side * scale, 2 * side * scale)


@pytest.mark.parametrize("name,scale", ENTRIES)
def test_checkpoint_round_trip_gives_identical_outputs(name, scale, tmp_path):
    module = _perturbed(build(name, scale, {}), seed=scale)
    ckpt = checkpoint_dict(module, arch=name, hparams=get_arch(name).defaults, scale=scale, supports_half=False,
                           config="configs/train/example.toml", metrics={"val_psnr": 1.0})
    path = save_checkpoint(tmp_path / f"{name}_x{scale}.pt", ckpt)
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["arch"] == name and raw["scale"] == scale and raw["supports_half"] is False
    loaded = load_model_file(path)
    assert isinstance(loaded, SRModel)
    assert (loaded.name, loaded.scale, loaded.config) == (name, scale, "configs/train/example.toml")
    spec = get_arch(name)
    assert loaded.frames == spec.defaults.get("frames", 1) and loaded.is_multi_frame == spec.multi_frame
    assert (loaded.learned, loaded.purpose, loaded.degradation) == (spec.learned, spec.purpose, spec.degradation)
    assert not loaded.module.training
    x = torch.rand(1, getattr(module, "in_channels", 1), 11, 9)
    with torch.inference_mode():
        assert torch.equal(module(x), loaded.module(x))


@pytest.mark.parametrize("name", ["residual", "espcn", "fsrcnn", "srcnn"])
def test_zero_initialised_residual_models_start_at_bicubic(name):
    module = build(name, 3).eval()
    x = torch.rand(1, 1, 10, 12)
    ref = F.interpolate(x, scale_factor=3, mode="bicubic", align_corners=False)
    with torch.inference_mode():
        assert torch.allclose(module(x), ref, atol=1e-5)


def test_a_grown_residual_model_starts_as_the_smaller_one():
    small = _perturbed(build("residual", 3, {"channels": 8, "blocks": 2}))
    grown = build("residual", 3, {"channels": 8, "blocks": 5})
    grown.grow_from(small)
    x = torch.rand(1, 1, 9, 11)
    with torch.inference_mode():
        assert torch.allclose(grown(x), small(x), atol=1e-6)
    assert grown.body[4].conv1.weight.abs().sum() > 0  # the new blocks can learn: only their last conv is zero
    with pytest.raises(ValueError, match="cannot grow"):
        build("residual", 3, {"channels": 4, "blocks": 5}).grow_from(small)


def test_a_widened_espcn_starts_as_the_narrower_one_and_its_new_features_learn():
    small = _perturbed(build("espcn", 4, {"features": [8, 4]}))
    wide = build("espcn", 4, {"features": [10, 6]})
    wide.grow_from(small)
    x = torch.rand(1, 1, 9, 11)
    with torch.no_grad():
        assert torch.allclose(wide(x), small(x), atol=1e-6)
    assert wide.conv2.weight[4:].abs().sum() > 0
    (wide(x) - x.repeat_interleave(4, -1).repeat_interleave(4, -2)).abs().mean().backward()
    assert wide.conv3.weight.grad[:, 4:].abs().sum() > 0
    for features, kw in (([6, 4], {}), ([10, 6], {"activation": "tanh"}), ([10, 6], {"global_skip": False})):
        with pytest.raises(ValueError, match="cannot grow"):
            build("espcn", 4, {"features": features, **kw}).grow_from(small)


def test_a_widened_residual_model_starts_as_the_narrower_one_and_its_new_channels_learn():
    small = _perturbed(build("residual", 3, {"channels": 8, "blocks": 2}))
    wide = build("residual", 3, {"channels": 12, "blocks": 3})
    wide.grow_from(small)
    x = torch.rand(1, 1, 9, 11)
    with torch.no_grad():
        assert torch.allclose(wide(x), small(x), atol=1e-6)
    assert wide.head.weight[8:].abs().sum() > 0  # the extra channels carry something from the start
    (wide(x) - x.repeat_interleave(3, -1).repeat_interleave(3, -2)).abs().mean().backward()
    assert wide.upsample.weight.grad[:, 8:].abs().sum() > 0  # and their first weights into the output move


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_skip_equals_torch_bicubic_including_borders(scale):
    x = torch.rand(2, 1, 9, 14)
    y = F.pixel_shuffle(BicubicSkip(scale)(x), scale)
    assert torch.allclose(y, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False), atol=1e-5)


def test_fsrcnn_classic_deconvolution_variant_keeps_the_shape():
    module = _perturbed(build("fsrcnn", 3, {"upsampler": "deconv"}))
    assert isinstance(module.last, torch.nn.ConvTranspose2d)
    with torch.inference_mode():
        assert module(torch.rand(1, 1, 7, 5)).shape == (1, 1, 21, 15)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_model_needs_no_weights(scale):
    m = load_model("bicubic", scale)
    assert m.supports_half and m.config is None and m.scale == scale
    assert not m.learned and not m.is_multi_frame and m.frames == 1
    x = torch.rand(1, 1, 5, 7)
    assert torch.equal(m.module(x), F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


def test_unknown_model_and_scale_are_named_errors():
    with pytest.raises(UnsupportedModelError, match=r"'nope'.*bicubic.*residual"):
        load_model("nope", 4)
    with pytest.raises(UnsupportedModelError, match=r"scale 5.*2, 3, 4"):
        load_model("espcn", 5)
    with pytest.raises(UnsupportedModelError, match=r"scale 8"):
        load_model("bicubic", 8)
    with pytest.raises(ValueError, match=r"unknown hyper-parameter.*valid"):
        build("espcn", 2, {"featurez": (1, 2)})


def test_missing_weights_and_bad_files_are_named_errors(tmp_path, monkeypatch):
    import vsr.models.loading as loading

    monkeypatch.setattr(loading, "weights_path", lambda n, s: tmp_path / f"{n}_x{s}.pt")
    with pytest.raises(UnsupportedModelError, match="no shipped weights"):
        load_model("srcnn", 2)
    assert default_model_name(4) == "bicubic"
    with pytest.raises(InputError, match="not found"):
        load_model_file(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        load_model_file(bad)
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a vsr model checkpoint"):
        load_model_file(tmp_path / "other.pt")


def test_default_model_is_the_best_shipped_one():
    for scale in (2, 3, 4):
        shipped = {n for n, s in SHIPPED if s == scale}
        name = default_model_name(scale)
        if "residual" in shipped:
            assert name == "residual"
        elif shipped:
            assert name in shipped
        else:
            assert name == "bicubic"


# --- shipped weights ---------------------------------------------------------------------------


def synthetic_luma(size: int = 120) -> np.ndarray:
    """A deterministic test card in 8-bit luma levels: edges, thin lines, a ring, a gradient, text."""
    import cv2

    img = np.full((size, size), 60, np.uint8)
    img[:, : size // 2] += np.linspace(0, 80, size // 2).astype(np.uint8)[None, :]
    cv2.rectangle(img, (10, 12), (50, 48), 200, -1)
    cv2.circle(img, (85, 35), 22, 220, 3, lineType=cv2.LINE_AA)
    for i in range(6):
        cv2.line(img, (8 + 7 * i, 70), (20 + 7 * i, 112), 30 if i % 2 else 210, 2, lineType=cv2.LINE_AA)
    cv2.putText(img, "VSR", (58, 102), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 235, 2, cv2.LINE_AA)
    return np.clip(img.astype(np.float32), 16, 235)


def _upscale(module: torch.nn.Module, lr: np.ndarray, dtype: torch.dtype | None = None) -> np.ndarray:
    x = torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None]
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        y = module(x)
    return np.clip(np.rint(y.float()[0, 0].numpy() * 255.0), 0, 255)


@pytest.mark.parametrize("name,scale", SHIPPED)
def test_shipped_weights_load_and_describe_themselves(name, scale):
    m = load_model(name, scale)
    assert (m.name, m.scale) == (name, scale)
    assert isinstance(m.supports_half, bool)
    assert m.config == f"configs/train/{name}_x{scale}.toml"
    assert (REPO / m.config).is_file(), "the config that made the weights must ship with the repository"
    assert not m.module.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in m.module.parameters())
    assert weights_path(name, scale).stat().st_size < 2_000_000


@pytest.mark.parametrize("name,scale", SHIPPED)
def test_shipped_single_frame_models_describe_what_they_are(name, scale):
    m = load_model(name, scale)
    assert (m.frames, m.is_multi_frame, m.learned) == (1, False, True)
    expected = {"restore": ("restoration", DAMAGED), "restore-fast": ("restoration", DAMAGED),
                "stream": ("super-resolution", CODEC)}
    assert (m.purpose, m.degradation) == expected.get(name, ("super-resolution", BI))
    assert (m.size_multiple, m.min_size) == (1, 1)


@pytest.mark.parametrize("name", [n for n in MULTI_FRAME_ARCHS if any(weights_path(n, s).is_file() for s in (2, 3, 4))])
def test_shipped_multi_frame_models_describe_their_window(name):
    scale = next(s for s in (2, 3, 4) if weights_path(name, s).is_file())
    m = load_model(name, scale)
    assert m.is_multi_frame and m.frames == m.module.frames >= 3
    assert (m.purpose, m.degradation, m.learned) == ("super-resolution", BI, True)


def test_a_descriptor_rejects_an_unknown_purpose_and_an_even_window():
    module = build("bicubic", 2)
    with pytest.raises(ValueError, match="purpose"):
        SRModel("x", 2, module, False, None, purpose="colourisation")
    with pytest.raises(ValueError, match="frames"):
        SRModel("x", 2, module, False, None, frames=4)


@pytest.mark.parametrize("name,scale", [m for m in SHIPPED if m[1] > 1])
def test_shipped_weights_beat_bicubic_on_a_synthetic_image(name, scale):
    hr = synthetic_luma(120)
    lr = np.clip(np.rint(imresize(hr, 1 / scale)), 0, 255)
    bic = np.clip(np.rint(imresize(lr, float(scale))), 0, 255)
    sr = _upscale(load_model(name, scale).module, lr)
    gain = psnr(sr, hr, border=scale) - psnr(bic, hr, border=scale)
    assert gain >= MARGIN_DB, f"{name} x{scale}: {gain:.2f} dB over bicubic"


@pytest.mark.parametrize("name,scale", [m for m in SHIPPED if m[1] == 1])
def test_shipped_clean_up_models_improve_x264_damaged_frames(name, scale):
    """x1 models have no clean benchmark (the input is the target): they must undo a codec's damage."""
    hr = synthetic_luma(120).astype(np.uint8)
    clip = [np.ascontiguousarray(hr[k : k + 96, 2 * k : 2 * k + 96]) for k in range(3)]
    damaged = codec_round_trip(clip, "libx264", crf=35, preset="medium")
    model = load_model(name, scale).module
    gains = [psnr(_upscale(model, d.astype(np.float64)), c, border=0) - psnr(d, c, border=0)
             for d, c in zip(damaged, clip)]
    assert min(gains) >= 0.1, f"{name} x1: {gains} dB over the decoded frames"


@pytest.mark.parametrize("name,scale", SHIPPED)
def test_half_precision_only_where_declared_safe(name, scale):
    m = load_model(name, scale)
    lr = np.clip(np.rint(imresize(synthetic_luma(120), 1 / scale)), 0, 255)
    if m.supports_half:
        # within one level but for isolated rounding ties (at most 0.1 % of the pixels two levels off):
        # CPUs without native bf16 run other kernels, and residual x4 has one such pixel of 14 400 there
        ref = _upscale(m.module, lr)
        for dtype in (torch.bfloat16, torch.float16):
            diff = np.abs(_upscale(m.module, lr, dtype) - ref)
            assert diff.max() <= 2 and np.mean(diff > 1) <= 1e-3, f"{name} x{scale} {dtype}: {diff.max()} levels"
    else:
        with pytest.raises(UnsupportedModelError, match="not declared safe"):
            m.run_luma(lr, precision="bf16")
