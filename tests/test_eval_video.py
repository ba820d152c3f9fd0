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


def test_a_long_sequence_is_scored_as_it_streams_with_the_same_figures(tmp_path, monkeypatch):
    """Every frame of a sequence (ground truth, LR, each method's result) was held at once: memory
    grew with the sequence's length (569 MB for 1600 128x96 frames)."""
    import weakref

    import vsr.eval.video as video

    folder = tmp_path / "set" / "long"
    folder.mkdir(parents=True)
    base = texture(40, 48, seed=3, blur=1.0)
    frames = 3 * video.CHUNK_FRAMES + 5
    for t in range(frames):
        rgb = np.repeat(np.clip(fourier_shift(base, 0.4 * t, 0.2 * t), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        cv2.imwrite(str(folder / f"hr_{t:03d}.png"), rgb)
    alive: list[weakref.ref] = []
    peak = [0]
    real = video.rgb_to_y8

    def tracked(rgb):
        plane = real(rgb)
        alive.append(weakref.ref(plane))
        peak[0] = max(peak[0], sum(ref() is not None for ref in alive))
        return plane

    monkeypatch.setattr(video, "rgb_to_y8", tracked)
    methods = ("bicubic", "single", "multi")
    report = evaluate_video(tmp_path / "set", model=load_model("bicubic", 2), scale=2, frames=3, methods=methods)
    assert report.sequences[0].frames == frames
    assert peak[0] <= 2 * (video.CHUNK_FRAMES + 4)  # a chunk's truths and LR planes, and the window's lag
    monkeypatch.setattr(video, "CHUNK_FRAMES", frames)  # all at once: the figures do not depend on the chunks
    whole = evaluate_video(tmp_path / "set", model=load_model("bicubic", 2), scale=2, frames=3, methods=methods)
    for method in methods:
        a, b = report.sequences[0].scores[method], whole.sequences[0].scores[method]
        assert (a.psnr, a.ssim, a.psnr_crop, a.ssim_crop, a.tmae) == (b.psnr, b.ssim, b.psnr_crop, b.ssim_crop, b.tmae)


@pytest.mark.parametrize("methods", [("nope",), ()])
def test_unknown_methods_are_a_config_error(tmp_path, methods):
    """A ValueError before, not one of vsr's errors (the CLI said a traceback's words)."""
    from vsr.errors import ConfigError

    with pytest.raises(ConfigError, match="methods must be among"):
        evaluate_video(tmp_path, model=load_model("bicubic", 2), scale=2, methods=methods)


@pytest.mark.parametrize("kwargs, said", [
    (dict(height=0), "not 3 of 960x0"),
    (dict(frames=0), "not 0 of 960x540"),
    (dict(precision="fp8"), "runs in fp32 or bf16, not 'fp8'"),
    (dict(precision="fp16"), "runs in fp32 or bf16, not 'fp16'"),  # timed as fp32, said as fp16
])
def test_measure_fps_refuses_an_empty_plane_or_an_unknown_precision(kwargs, said):
    """A bare AssertionError from deep in the engine, or fp8 timed as fp32 in silence."""
    from vsr.errors import ConfigError
    from vsr.eval.evaluate import measure_fps

    with pytest.raises(ConfigError, match=said):
        measure_fps(load_model("espcn", 2), **kwargs)
