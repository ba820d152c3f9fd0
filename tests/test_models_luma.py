"""The one luma-plane runner (vsr.models.run_luma / SRModel.run_luma) that still images, `vsr eval` and
training validation share: units, windows, precision rules, and agreement with the video engine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsr.engine import make_engine
from vsr.errors import UnsupportedModelError
from vsr.eval.evaluate import upscale_luma
from vsr.models import SRModel, build, load_model, run_luma
from vsr.pipeline.image import upscale_image
from vsr.train.loop import output_levels

torch.set_num_threads(1)


def luma(height: int = 23, width: int = 31, seed: int = 0) -> np.ndarray:
    smooth = cv2.GaussianBlur(np.random.default_rng(seed).random((height, width)).astype(np.float32), (0, 0), 1.5)
    return np.clip(np.rint(16 + 219 * (smooth - smooth.min()) / np.ptp(smooth)), 0, 255).astype(np.uint8)


def test_levels_and_unit_planes_give_the_same_image():
    model = load_model("espcn", 2)
    plane = luma()
    in_levels = model.run_luma(plane)
    in_units = model.run_luma(plane.astype(np.float32) / 255.0, max_value=1)
    assert in_levels.shape == (46, 62) and in_levels.dtype == np.float32
    assert np.abs(in_levels / 255.0 - in_units).max() < 1e-5


def test_a_multi_frame_window_goes_in_whole():
    module = build("multiframe", 2, {"frames": 3, "channels": 8, "blocks": 1}).eval()
    window = np.random.default_rng(1).random((module.in_channels, 9, 7)).astype(np.float32)
    out = run_luma(module, window, max_value=1)
    with torch.inference_mode():
        expected = module(torch.from_numpy(window)[None])[0, 0].numpy()
    assert out.shape == (18, 14) and np.array_equal(out, expected)


def test_an_unknown_or_unsafe_precision_is_refused():
    model = SRModel("plain", 2, build("espcn", 2).eval(), False, None)
    with pytest.raises(ValueError, match="precision must be one of fp32, fp16, bf16"):
        model.run_luma(luma(), precision="int8")
    with pytest.raises(UnsupportedModelError, match="not declared safe for bf16"):
        model.run_luma(luma(), precision="bf16")


@pytest.mark.parametrize("name", ["espcn", "residual"])
def test_eval_and_training_validation_agree_exactly_and_with_the_engine(name):
    model = load_model(name, 2)
    plane = luma()
    engine = make_engine(model, "cpu", "fp32", 255)
    video = engine.collect(engine.submit([plane]))[0].astype(int)
    evaluated = upscale_luma(model, plane)
    validated = output_levels(model.module, plane)
    assert np.array_equal(evaluated, validated)
    assert np.abs(evaluated - video).max() <= 1


def test_a_grey_still_image_is_the_runner_output_within_one_level(tmp_path: Path):
    plane = luma()
    source = tmp_path / "grey.png"
    cv2.imwrite(str(source), plane)
    upscale_image(source, tmp_path / "big.png", scale=2, model="espcn", device="cpu")
    still = cv2.imread(str(tmp_path / "big.png"), cv2.IMREAD_UNCHANGED).astype(int)
    as_luma = load_model("espcn", 2).run_luma(16 + plane.astype(np.float32) * 219 / 255)  # grey as R = G = B's luma
    assert np.abs(still - np.clip(np.rint((as_luma - 16) * 255 / 219), 0, 255)).max() <= 1
