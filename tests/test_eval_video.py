"""vsr.eval.video: the temporal flicker measure and the side-by-side evaluation of a folder of sequences."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from textures import fourier_shift, texture
from vsr.eval.video import evaluate_video, format_video_report, temporal_mae
from vsr.models import load_model


def test_temporal_mae_is_zero_for_the_truth_and_counts_flicker():
    truth = [np.full((8, 8), 100.0 + t) for t in range(4)]
    assert temporal_mae(truth, truth) == 0.0
    flicker = [t + (3.0 if i % 2 else 0.0) for i, t in enumerate(truth)]
    assert temporal_mae(flicker, truth) == pytest.approx(3.0)
    assert math.isnan(temporal_mae(truth[:1], truth[:1]))


def test_evaluate_video_reports_every_method_per_sequence(tmp_path):
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


def test_evaluate_video_with_ensemble_runs_the_model_in_eight_orientations_and_says_so(tmp_path):
    from tinymodels import write_weight_file

    folder = tmp_path / "set" / "a"
    folder.mkdir(parents=True)
    for t in range(2):
        grey = np.clip(fourier_shift(texture(48, 56, seed=30, blur=1.0), 0.5 * t, 0.0), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"hr_{t:02d}.png"), np.repeat(grey[..., None], 3, axis=2))
    weights = write_weight_file(tmp_path / "tiny.pt", scale=4, seed=3)
    plain, turned = (evaluate_video(tmp_path / "set", model=str(weights), scale=4, frames=3, methods=("single",),
                                    ensemble=ensemble) for ensemble in (False, True))
    assert plain.mean("single", "psnr") != turned.mean("single", "psnr")
    assert turned.extra["ensemble"] and "self-ensembled" in format_video_report(turned)
    assert "self-ensembled" not in format_video_report(plain)


def test_a_window_the_shipped_fusion_model_does_not_take_leaves_its_row_out_or_is_refused_up_front(tmp_path):
    """`vsr eval --mode multi --frames 3` at x4 computed a whole sequence, then failed: 'model
    multiframe_refine fuses 5 frames, the window has 3'."""
    from vsr.errors import UnsupportedModelError
    from vsr.models import weights_path

    if not weights_path("multiframe_refine", 4).is_file():
        pytest.skip("no multi-frame model is shipped at x4")
    folder = tmp_path / "set" / "a"
    folder.mkdir(parents=True)
    base = texture(48, 64, seed=3, blur=1.0)
    for t in range(3):
        rgb = np.repeat(np.clip(fourier_shift(base, 0.7 * t, 0.3 * t), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        cv2.imwrite(str(folder / f"hr_{t:02d}.png"), rgb)
    report = evaluate_video(tmp_path / "set", model=load_model("bicubic", 4), scale=4, frames=3)
    assert set(report.sequences[0].scores) == {"bicubic", "single", "multi"}
    with pytest.raises(UnsupportedModelError, match="fuses 5 frames; use --frames 5"):
        evaluate_video(tmp_path / "set", model=load_model("bicubic", 4), scale=4, frames=3, methods=("learned",),
                       progress=lambda s, m: pytest.fail("a sequence was read first"))
    not_asked = evaluate_video(tmp_path / "set", model=load_model("bicubic", 4), scale=4, frames=3, methods=("single",),
                               fusion_model="multiframe_refine")  # a fusion model that would not run is no error
    assert set(not_asked.sequences[0].scores) == {"single"}
