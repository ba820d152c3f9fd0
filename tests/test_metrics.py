"""Metric functions and the MATLAB-style downscaler against known values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vsr.cli import app
from vsr.eval.metrics import crop_border, psnr, rgb_to_y, ssim
from vsr.resample.matlab import imresize, resize_weights, to_uint8

SET5 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bench" / "Set5"


def _image(h: int = 48, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w)).astype(np.float64)


def test_psnr_of_identical_images_is_infinite():
    a = _image()
    assert psnr(a, a.copy()) == math.inf


@pytest.mark.parametrize("offset", [1.0, 3.0, 10.0])
def test_psnr_of_a_constant_offset_is_exact(offset):
    a = _image()
    assert psnr(a, a + offset) == pytest.approx(10 * math.log10(255.0**2 / offset**2), abs=1e-12)
    assert psnr(a, a + offset, peak=1.0) == pytest.approx(10 * math.log10(1.0 / offset**2), abs=1e-12)


def test_psnr_border_crop_ignores_the_border():
    a = _image()
    b = a.copy()
    b[:2] += 50
    b[:, -2:] -= 50
    assert psnr(a, b) < 30
    assert psnr(a, b, border=2) == math.inf


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        psnr(_image(10, 10), _image(10, 11))


def test_ssim_of_identical_images_is_one():
    a = _image()
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_constant_images_matches_the_formula():
    # zero variances and covariance: SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    m1, m2 = 100.0, 140.0
    c1 = (0.01 * 255) ** 2
    expected = (2 * m1 * m2 + c1) / (m1**2 + m2**2 + c1)
    assert ssim(np.full((20, 20), m1), np.full((20, 20), m2)) == pytest.approx(expected, rel=1e-12)


def test_ssim_falls_with_noise_and_is_symmetric():
    a = _image(64, 64)
    rng = np.random.default_rng(1)
    small = np.clip(a + rng.normal(0, 5, a.shape), 0, 255)
    large = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
    assert 1.0 > ssim(a, small) > ssim(a, large) > 0.0
    assert ssim(a, small) == pytest.approx(ssim(small, a), rel=1e-12)


def test_ssim_border_and_size_checks():
    with pytest.raises(ValueError):
        ssim(_image(12, 12), _image(12, 12), border=2)  # 8x8 left: smaller than the window
    with pytest.raises(ValueError):
        ssim(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)))
    assert crop_border(_image(10, 12), 1).shape == (8, 10)


def test_rgb_to_y_uses_bt601_studio_range():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    y = rgb_to_y(px)[0]
    assert y == pytest.approx([16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], abs=1e-9)


def test_resize_weights_rows_sum_to_one_and_constant_stays_constant():
    for n, s in [(37, 1 / 4), (30, 1 / 3), (17, 2.0)]:
        w = resize_weights(n, math.ceil(n * s), s, True)
        assert np.allclose(w.sum(axis=1), 1.0)
    img = np.full((31, 45), 77.0)
    out = imresize(img, 1 / 3)
    assert out.shape == (11, 15)
    assert np.allclose(out, 77.0, atol=1e-4)


def test_imresize_upscale_interpolates_linear_ramps_exactly_inside():
    ramp = np.tile(np.arange(20, dtype=np.float64), (20, 1))
    up = imresize(ramp, 2.0)
    # cubic convolution reproduces linear functions away from the mirrored borders
    inner = up[:, 8:-8]
    xs = (np.arange(40) + 0.5) / 2 - 0.5
    assert np.allclose(inner, np.tile(xs[8:-8], (40, 1)), atol=1e-4)


@pytest.mark.skipif(not (SET5 / "LR_bicubic").is_dir(), reason="Set5 reference LR images not present")
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_downscale_matches_matlab_reference_lr(scale):
    import cv2

    diffs = []
    for hr_path in sorted((SET5 / "HR").glob("*.png")):
        hr = cv2.imread(str(hr_path))[:, :, ::-1]
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        ref = cv2.imread(str(SET5 / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png"))[:, :, ::-1]
        ours = to_uint8(imresize(hr, 1 / scale))
        assert ours.shape == ref.shape
        diffs.append(np.abs(ours.astype(int) - ref.astype(int)).mean())
    assert max(diffs) < 0.3  # measured ~0.10-0.15 of a level: rounding differences only


# --- the benchmark runner and `vsr eval` ---------------------------------------------------------


def _hr_folder(tmp_path: Path) -> Path:
    import cv2

    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(50, 61), (64, 64)]):
        img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (5, 5), 1.5)
        cv2.imwrite(str(folder / f"im{i}.png"), img)
    return folder


def test_evaluate_folder_bicubic_model_vs_matlab_bicubic(tmp_path):
    from vsr.eval.evaluate import evaluate_folder
    from vsr.models import load_model

    report = evaluate_folder(load_model("bicubic", 2), _hr_folder(tmp_path))
    assert [r.name for r in report.images] == ["im0.png", "im1.png"]
    assert report.images[0].hr_size == (50, 60)  # cropped to a multiple of the scale
    for r in report.images:
        assert 15 < r.psnr < 60 and 15 < r.bicubic_psnr < 60 and 0 < r.ssim <= 1
        assert abs(r.psnr - r.bicubic_psnr) < 1.5  # torch and MATLAB bicubic are close
    d = report.to_dict()
    assert d["mean"]["psnr"] == pytest.approx(np.mean([r.psnr for r in report.images]))
    assert d["border"] == 2 and d["wall_seconds"] >= d["model_seconds"] >= 0


def _cli():
    return CliRunner(), app


def test_eval_command_writes_json_and_fails_in_one_line(tmp_path):
    import json

    runner, app = _cli()
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["eval", "--model", "bicubic", "--scale", "3", "--data", str(_hr_folder(tmp_path)),
                              "--json", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "Y-PSNR" in res.output
    data = json.loads(out.read_text())
    assert data["scale"] == 3 and len(data["images"]) == 2 and "psnr" in data["mean"]
    res = runner.invoke(app, ["eval", "--model", "nope", "--scale", "3", "--data", str(tmp_path)])
    assert res.exit_code == 1
    assert "unknown model 'nope'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["eval", "--model", "bicubic", "--scale", "7", "--data", str(tmp_path)])
    assert res.exit_code == 1 and "scale 7" in res.output
    res = runner.invoke(app, ["eval", "--model", "bicubic", "--scale", "2", "--data", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "folder not found" in res.output
