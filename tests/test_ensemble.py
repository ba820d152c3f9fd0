"""Self-ensemble (`--ensemble`): the 8 orientations, their inverses, and the engines and pipeline that average them."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

import vsr
from test_learned_fusion import TINY, _texture, _tiny_single
from tinymodels import NeighbourShuffle, TinyConv, lumas, neighbour_shuffle, sr_model
from videoclips import raw_planes
from vsr.engine import make_engine
from vsr.engine.ensemble import EnsembleEngine, rounded_mean_of_8, turned_back
from vsr.engine.fusion import LearnedFusion, fusion_inputs
from vsr.misr import MultiFrameSettings, MultiFrameSR
from vsr.models import SRModel, build
from vsr.models.ensemble import ORIENTATIONS, orient, orient_tensor, self_ensemble, unorient, unorient_tensor


def test_the_eight_orientations_are_distinct_and_each_is_undone_by_its_inverse():
    plane = np.arange(12).reshape(3, 4)
    turned = [orient(plane, turns, flip) for turns, flip in ORIENTATIONS]
    assert len({(t.shape, t.tobytes()) for t in map(np.ascontiguousarray, turned)}) == 8
    for (turns, flip), t in zip(ORIENTATIONS, turned):
        assert np.array_equal(unorient(t, turns, flip), plane)
        tensor = orient_tensor(torch.from_numpy(plane)[None, None], turns, flip)
        assert np.array_equal(tensor[0, 0].numpy(), t)  # the tensor and numpy versions agree
        assert np.array_equal(unorient_tensor(tensor, turns, flip)[0, 0].numpy(), plane)


def test_turned_back_is_unorient_and_the_integer_mean_rounds_halves_to_even():
    plane = lumas(1, 5, 7, seed=1)[0]
    for turns, flip in ORIENTATIONS:
        assert np.array_equal(turned_back(plane, turns, flip), unorient(plane, turns, flip))
    totals = np.arange(8 * 1023 + 1, dtype=np.uint32)
    assert np.array_equal(rounded_mean_of_8(totals, np.uint16), np.rint(totals / 8))
    assert np.array_equal(rounded_mean_of_8(totals.astype(np.float64), np.uint16), np.rint(totals / 8))


@pytest.mark.parametrize("max_value", [255, 1023])
def test_the_ensemble_engine_is_the_rounded_mean_of_the_turned_results(max_value):
    """Batched, 8- and 10-bit: each sample is the float mean of its 8 turned-back results, rounded."""
    planes = lumas(3, 9, 14, max_value=max_value, seed=7)
    engine = make_engine(sr_model(NeighbourShuffle()), "cpu", "fp32", max_value=max_value, ensemble=True)
    expected = self_ensemble(lambda ps: [neighbour_shuffle(p) for p in ps], planes)
    got = engine.collect(engine.submit(planes))
    assert all(g.dtype == planes[0].dtype and np.array_equal(g, np.rint(e)) for g, e in zip(got, expected))


def test_the_ensemble_of_a_model_that_ignores_orientation_is_the_model():
    planes = lumas(2, 5, 7, seed=1)
    doubled = self_ensemble(lambda ps: [np.kron(p, np.ones((2, 2))) for p in ps], planes)
    assert all(np.array_equal(d, np.kron(p, np.ones((2, 2)))) for d, p in zip(doubled, planes))


def test_the_ensemble_turns_with_its_input_where_the_model_alone_does_not():
    """Averaging over all 8 orientations makes any model orientation-equivariant: the ensemble of a
    turned plane is the turned ensemble (up to rounding), which a plain lopsided network is not."""
    model = sr_model(TinyConv(2, seed=4))
    plane = lumas(1, 20, 26, seed=2)[0]
    turned = np.ascontiguousarray(orient(plane, 1, True))
    plain = make_engine(model, "cpu", "fp32")
    ensemble = make_engine(model, "cpu", "fp32", ensemble=True)
    assert isinstance(ensemble, EnsembleEngine) and ensemble.scale == 2

    def run(engine, p):
        return engine.collect(engine.submit([p]))[0].astype(int)

    assert np.abs(run(plain, turned) - orient(run(plain, plane), 1, True)).max() > 3
    difference = np.abs(run(ensemble, turned) - orient(run(ensemble, plane), 1, True))
    assert difference.max() <= 1 and difference.mean() < 0.01
    assert ensemble.submit([plane])[0].dtype == np.uint8


def test_run_luma_with_ensemble_is_the_mean_of_the_turned_results():
    model = sr_model(NeighbourShuffle())
    plane = lumas(1, 6, 9, seed=3)[0].astype(np.float32)
    expected = np.mean([unorient(neighbour_shuffle(np.ascontiguousarray(orient(plane, t, f))), t, f)
                        for t, f in ORIENTATIONS], axis=0)
    assert np.allclose(model.run_luma(plane, ensemble=True), expected, atol=1e-3)
    assert not np.allclose(model.run_luma(plane), expected, atol=1)


def test_a_fresh_refine_model_returns_the_classical_fusion_in_every_orientation():
    """Its output is the classical result given as s² sub-pixel phases: turned phase by phase the
    phases would land on the wrong pixels, so an exact answer shows they are turned as an image."""
    refine = build("multiframe_refine", 2, {**TINY, "frames": 3, "single": "bicubic"}).eval()
    refine.init_from_single(_tiny_single(2))
    fuser = MultiFrameSR(2, MultiFrameSettings(frames=3))
    for s in range(3):
        fuser.push(np.roll(_texture(20, 24), s, axis=1))
    fuser.finish()
    fusion = LearnedFusion(SRModel("multiframe_refine", 2, refine, False, None, frames=3), "cpu", "fp32", ensemble=True)
    inputs = fusion_inputs(fuser, [1], fusion.single)
    classical = torch.nn.functional.pixel_shuffle(inputs[:, 5:], 2) * 255.0
    assert torch.allclose(fusion.fuse(fuser, [1]), classical, atol=1e-3)


def test_a_video_upscaled_with_ensemble_has_the_ensemble_luma_exactly(make_clip, caplog):
    source = make_clip("in.mp4", width=34, height=26, frames=4)
    caplog.set_level(logging.INFO, logger="vsr")
    result = vsr.upscale_video(source, source.with_name("out.mkv"), scale=2, model=sr_model(NeighbourShuffle()),
                               codec="ffv1", ensemble=True, device="cpu", precision="fp32")
    inputs, outputs = raw_planes(source), raw_planes(result.output)
    assert len(outputs) == 4
    for planes_in, planes_out in zip(inputs, outputs):
        expected = self_ensemble(lambda ps: [neighbour_shuffle(p) for p in ps], [planes_in[0]])[0]
        assert np.array_equal(planes_out[0], np.rint(expected))
    assert "self-ensemble x8" in caplog.text


def test_a_multi_frame_model_refuses_run_luma_with_ensemble():
    multi = build("multiframe", 2, {**TINY, "frames": 3}).eval()
    with pytest.raises(vsr.errors.UnsupportedModelError, match="learned fusion"):
        SRModel("multiframe", 2, multi, False, None, frames=3).run_luma(np.zeros((3, 8, 8)), ensemble=True)


def test_a_still_image_upscaled_with_ensemble_has_the_ensemble_luma(tmp_path):
    source = tmp_path / "grey.png"
    plane = lumas(1, 18, 22, seed=5)[0]
    assert cv2.imwrite(str(source), plane)
    model = sr_model(TinyConv(2, seed=6))
    plain = cv2.imread(str(vsr.upscale_video(source, tmp_path / "plain.png", scale=2, model=model).output), cv2.IMREAD_UNCHANGED)
    result = vsr.upscale_video(source, tmp_path / "big.png", scale=2, model=model, ensemble=True)
    big = cv2.imread(str(result.output), cv2.IMREAD_UNCHANGED)
    as_luma = model.run_luma(16 + plane.astype(np.float32) * 219 / 255, ensemble=True)  # grey as R = G = B's luma
    expected = np.clip(np.rint((as_luma - 16) * 255 / 219), 0, 255)
    assert big.shape == (36, 44) and np.abs(big - expected).max() <= 1
    assert np.abs(plain.astype(int) - expected).max() > 1  # the ensemble made a difference
