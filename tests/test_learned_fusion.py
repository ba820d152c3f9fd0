"""Learned multi-frame fusion: the model, its aligned input, its training windows and its use."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch

import vsr
from test_train import _write_images
from videoclips import read_video
from vsr.device import cudnn_settings
from vsr.train.config import config_from_dict
from vsr.errors import ConfigError, VsrError
from vsr.misr import MultiFrameSettings, MultiFrameSR
from vsr.engine.fusion import LearnedFusion, fusion_inputs
from vsr.models import SRModel, build, checkpoint_dict, load_model_file, save_checkpoint
from vsr.models.checkpoint import read_checkpoint, weights_sha256
from vsr.models.multiframe import MultiFrameResidual, stack_channels
from vsr.train.loop import train
from vsr.degrade.config import DegradeConfig
from vsr.train.sequences import aligned_window, camera_motion, synthetic_windows

torch.set_num_threads(1)

TINY = {"channels": 8, "blocks": 1, "res_scale": 1.0}


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 1.5)
    return np.clip(128 + 60 * noise / noise.std(), 0, 255).astype(np.uint8)


def _tiny_single(scale: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    single = build("residual", scale, TINY)
    with torch.no_grad():
        for p in single.parameters():
            p.add_(0.05 * torch.randn_like(p))  # the upsampler starts at zero: make every layer matter
    return single.eval()


def _tiny_multi(scale: int = 2, frames: int = 3, seed: int = 0) -> SRModel:
    multi = build("multiframe", scale, {**TINY, "frames": frames})
    multi.init_from_single(_tiny_single(scale, seed))
    with torch.no_grad():
        multi.head.weight[:, 1:].normal_(0, 0.05)  # and let the neighbours count
    return SRModel("multiframe", scale, multi.eval(), False, None, frames=frames)


def test_a_warm_started_multi_frame_model_is_the_single_frame_model_whatever_the_neighbours():
    single = _tiny_single(3)
    multi = build("multiframe", 3, {**TINY, "frames": 5}).eval()
    multi.init_from_single(single)
    assert multi.in_channels == stack_channels(5) == 9
    x = torch.rand(2, 9, 13, 11)
    with torch.inference_mode():
        assert torch.allclose(multi(x), single(x[:, :1]), atol=1e-5)
        assert multi(x).shape == (2, 1, 39, 33)
    with pytest.raises(ValueError, match="does not fit"):
        multi.init_from_single(build("residual", 3, {**TINY, "channels": 16}))


def test_fp32_fusion_turns_tf32_convolutions_off_and_half_leaves_them_on(monkeypatch):
    """TF32 rounds like fp16 and depends on the batch size; "fp32" asks for exactness (CUDA only,
    but the cuDNN switch is global, so the CPU run shows whether it is set)."""
    seen: list[bool] = []
    model = _tiny_multi(2, frames=3)
    forward = model.module.forward
    monkeypatch.setattr(model.module, "forward", lambda x: (seen.append(torch.backends.cudnn.allow_tf32), forward(x))[1])
    fusion = LearnedFusion(model, "cpu", "fp32")
    fusion(torch.zeros(1, model.module.in_channels, 8, 8))
    with cudnn_settings("fp16"):
        seen.append(torch.backends.cudnn.allow_tf32)
    assert seen == [False, True]
    fuser = MultiFrameSR(2, MultiFrameSettings(frames=3))
    monkeypatch.setattr("vsr.misr.stream.fuse", lambda *a, **k: (seen.append(torch.backends.cudnn.allow_tf32), a[0])[1])
    for seed in range(3):
        fuser.push(_texture(20, 24, seed=seed))
    fuser.finish()
    fuser.fuse([1], [np.zeros((40, 48), np.float32)])
    assert seen[-1] is False


def test_the_stack_is_the_window_warped_onto_the_reference_with_zero_confidence_for_repeats():
    base = _texture(48, 64)
    shifted = np.roll(base, 2, axis=1)  # the next frame moves two pixels right
    fuser = MultiFrameSR(2, MultiFrameSettings(frames=3))
    fuser.push(base)
    fuser.push(shifted)
    fuser.finish()
    stack = fuser.stack([0, 1])
    assert stack.shape == (2, 5, 48, 64) and stack.dtype == torch.float32
    inner = (slice(8, -8), slice(8, -8))
    # frame 0: its previous neighbour is a repeat of itself (no weight), the next one aligns onto it
    assert torch.allclose(stack[0, 0], torch.from_numpy(base / 255.0).float())
    assert float(stack[0, 3].max()) == 0.0
    assert float((stack[0, 2][inner] - stack[0, 0][inner]).abs().mean()) < 1.0 / 255
    assert float(stack[0, 4][inner].mean()) > 0.9
    # frame 1: its previous neighbour (frame 0) aligns onto it; the next one is a repeat
    assert float((stack[1, 1][inner] - stack[1, 0][inner]).abs().mean()) < 1.0 / 255
    assert float(stack[1, 3][inner].mean()) > 0.9 and float(stack[1, 4].max()) == 0.0


def test_learned_fusion_runs_the_model_on_the_aligned_window_in_the_fusers_units():
    model = _tiny_multi(2, frames=3)
    fusion = LearnedFusion(model, "cpu", "fp32")
    planes = [_texture(20, 24, seed=s) for s in range(3)]
    for max_value, factor in ((255, 1), (1023, 4)):
        fuser = MultiFrameSR(2, MultiFrameSettings(frames=3), max_value=max_value)
        for p in planes:
            fuser.push(p.astype(np.uint16) * factor)
        fuser.finish()
        out = fusion.fuse(fuser, [1])
        with torch.inference_mode():
            expected = model.module(fuser.stack([1])) * max_value  # [0, 1] of the full range
        assert out.shape == (1, 1, 40, 48)
        assert torch.allclose(out, expected, atol=1e-3)
    with pytest.raises(VsrError, match="fuses 3 frames"):
        fusion.fuse(MultiFrameSR(2, MultiFrameSettings(frames=5)), [0])
    with pytest.raises(VsrError, match="single-frame"):
        LearnedFusion(SRModel("residual", 2, _tiny_single(), False, None), "cpu", "fp32")


def test_synthetic_windows_move_the_image_and_keep_the_reference():
    rng = np.random.default_rng(0)
    matrices = camera_motion(5, 2.0, 4, (40.0, 30.0), rng)
    assert len(matrices) == 5 and np.array_equal(matrices[2], np.eye(2, 3))
    assert all(np.abs(m[:, 2]).max() > 0 for i, m in enumerate(matrices) if i != 2)
    hr = _texture(96, 128)
    still, lr = aligned_window([hr] * 3, 4)
    assert still.shape == (5, 24, 32) and lr.shape == (24, 32)
    assert np.allclose(still[1], still[0], atol=1e-6) and np.allclose(still[2], still[0], atol=1e-6)
    # repeated frames in the middle of a video are real neighbours with full confidence
    assert still[3:].min() > 0.99


@pytest.mark.slow
def test_multi_frame_configs_need_the_multiframe_section_and_check_the_init_file(tmp_path):
    images = _write_images(tmp_path / "images", n=3, size=64)
    single_file = save_checkpoint(tmp_path / "single.pt", checkpoint_dict(
        _tiny_single(2), arch="residual", hparams=TINY, scale=2, supports_half=False, config=None))
    raw = {
        "model": {"arch": "multiframe", "scale": 2, "hparams": {**TINY, "frames": 3}},
        "data": {"train_dirs": [str(images)], "val_count": 1, "val_crop": 48, "patch_size": 12, "batch_size": 4},
        "multiframe": {"windows_per_image": 1, "motion": 1.5},
        "init": {"file": str(single_file), "weights_sha256": weights_sha256(read_checkpoint(single_file))},
        "train": {"iterations": 30, "lr": 1e-3, "warmup_iters": 2, "seed": 1, "val_every": 15, "ckpt_every": 10,
                  "amp": "none", "threads": 1, "output": str(tmp_path / "run"), "ship_to": ""},
    }
    result = train(config_from_dict(raw))
    assert result.finished
    first, last = np.mean(result.losses[:8]), np.mean(result.losses[-8:])
    assert last < first, (first, last)
    model = load_model_file(result.model_path)
    assert isinstance(model.module, MultiFrameResidual) and model.module.frames == 3
    # other weights in the init file are refused rather than silently used
    other = _tiny_single(2, seed=7)
    save_checkpoint(single_file, checkpoint_dict(other, arch="residual", hparams=TINY, scale=2,
                                                 supports_half=False, config=None))
    with pytest.raises(ConfigError, match="other weights"):
        train(config_from_dict({**raw, "train": {**raw["train"], "output": str(tmp_path / "run2")}}))
    without = {k: v for k, v in raw.items() if k != "multiframe"}
    with pytest.raises(ConfigError, match=r"\[multiframe\] is required"):
        config_from_dict(without)
    single = {**without, "model": {"arch": "residual", "scale": 2, "hparams": TINY}}
    assert "multiframe" not in config_from_dict(single).to_dict()  # single-frame configs are unchanged
    with pytest.raises(ConfigError, match="only for multi-frame"):
        config_from_dict({**single, "multiframe": raw["multiframe"]})
    with pytest.raises(ConfigError, match="jitter"):
        config_from_dict({**raw, "data": {**raw["data"], "jitter": 0.1}})


def test_synthetic_windows_skip_images_too_small_for_the_patch(tmp_path):
    images = _write_images(tmp_path / "images", n=2, size=64)
    paths = sorted(images.iterdir())
    pairs = synthetic_windows(paths, 2, 3, per_image=2, motion=1.0, seed=0)
    assert len(pairs) == 4
    assert all(p.lr.shape[0] == 5 and p.hr.shape == (p.lr.shape[1] * 2, p.lr.shape[2] * 2) for p in pairs)
    assert not np.array_equal(pairs[0].lr, pairs[1].lr)  # each copy has its own motion
    small = sorted(_write_images(tmp_path / "small", n=1, size=40).iterdir())
    assert synthetic_windows(small, 4, 3, per_image=1, motion=1.0, seed=0) == []  # 40 px < 16 LR px at x4


def test_windows_can_be_degraded_by_a_codec_with_the_same_motions(tmp_path):
    """[degrade] with a multi-frame model: each window's LR frames go through a chain drawn from it
    (here libx264 at CRF 40 over the window as one clip), the motions stay those drawn without it."""
    images = _write_images(tmp_path / "images", n=2, size=72)
    paths = sorted(images.iterdir())
    codec = DegradeConfig(clean_prob=0.0, resize_probs=(0.0, 0.0, 1.0), blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0,
                          second_prob=0.0, final_resize_modes=("matlab",), codec_prob=1.0, final_jpeg_prob=0.0,
                          codecs=("libx264",), codec_weights=(1.0,), x264_crf=(40, 40), x264_presets=("medium",))
    plain = synthetic_windows(paths, 2, 3, per_image=1, motion=1.0, seed=0)
    coded = synthetic_windows(paths, 2, 3, per_image=1, motion=1.0, seed=0, degrade=codec)
    assert [p.hr.shape for p in coded] == [p.hr.shape for p in plain]
    assert all(side % 4 == 0 for p in coded for side in p.hr.shape)  # even LR sides for the codec
    for a, b in zip(plain, coded):
        assert np.array_equal(a.hr, b.hr)  # the same motions
        assert 1.0 < np.abs(a.lr[:3] - b.lr[:3]).mean() * 255 < 30.0  # the frames carry x264's damage
    again = synthetic_windows(paths, 2, 3, per_image=1, motion=1.0, seed=0, degrade=codec)
    for a, b, clean in zip(coded, again, plain):
        # The same chains: libx264 itself does not give the same bits every time on such tiny clips
        # (a few runs in a hundred decide some blocks differently; once, in CI, a fifth of the damage
        # moved), so the rerun is close, not equal.
        assert np.abs(a.lr[:3] - b.lr[:3]).mean() < 0.5 * np.abs(a.lr[:3] - clean.lr[:3]).mean()


def test_multi_mode_with_a_multi_frame_model_uses_learned_fusion_end_to_end(make_clip, tmp_path):
    source = make_clip("in.mkv", frames=6)
    model = _tiny_multi(2, frames=3)
    debug = tmp_path / "debug"
    result = vsr.upscale_video(source, tmp_path / "out.mkv", scale=2, model=model, mode="multi", frames=3,
                               debug_dir=debug)
    facts, out = read_video(source), read_video(result.output)
    assert sorted(p.name for p in debug.glob("*.png")) == [f"confidence_00000{i}.png" for i in range(3)]
    assert result.frames == 6 and len(out.pts) == 6 and out.pts == facts.pts
    assert (out.width, out.height) == (2 * facts.width, 2 * facts.height)
    with pytest.raises(VsrError, match="--mode multi"):
        vsr.upscale_video(source, tmp_path / "single.mkv", scale=2, model=model)
    with pytest.raises(VsrError, match="--frames 3"):
        vsr.upscale_video(source, tmp_path / "five.mkv", scale=2, model=model, mode="multi", frames=5)
    assert not (tmp_path / "single.mkv").exists() and not (tmp_path / "five.mkv").exists()


def test_evaluate_video_adds_the_learned_row_for_a_fusion_model(tmp_path):
    from vsr.eval.video import evaluate_video, format_video_report
    from vsr.models import load_model

    folder = tmp_path / "set" / "a"
    folder.mkdir(parents=True)
    base = _texture(40, 48, seed=3)
    for t in range(3):
        cv2.imwrite(str(folder / f"{t}.png"), np.roll(base, t, axis=1))
    report = evaluate_video(tmp_path / "set", model=load_model("bicubic", 2), scale=2, frames=3,
                            fusion_model=_tiny_multi(2, frames=3))
    assert report.methods == ["bicubic", "single", "multi", "learned"]
    assert np.isfinite(report.mean("learned", "psnr"))
    assert "learned − single" in format_video_report(report)
    # the learned row runs the fusion model's own single-frame network, whatever -m says: the line says so
    assert "runs its own single-frame network, not bicubic" in format_video_report(report)
    with pytest.raises(vsr.errors.UnsupportedModelError, match="no multi-frame model is shipped at x3"):
        evaluate_video(tmp_path / "set", model=load_model("bicubic", 3), scale=3, frames=3,
                       methods=("learned",))


def test_models_command_lists_the_multi_frame_model_apart(cli):
    result = cli("models")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["residual"].split() == ["residual", "x2,", "x3,", "x4"]
    assert "--mode multi --model multiframe_refine" in lines["multiframe_refine"]
    assert "no weights shipped (multi-frame, learned fusion: train one with `vsr train`" in lines["multiframe"]
    assert "trained for: libx264" in lines["stream"] and "trained for" not in lines["espcn"]
    assert lines["default:"].startswith("default: x2 residual")  # never the multi-frame model
    listed = result.stdout.splitlines()[:-1]  # one column of scales, however long a name
    assert {line.index(line.split()[1]) for line in listed} == {len("multiframe_refine") + 1}
    assert "trained for: libx264" in lines["stream_refine"]


def test_a_missing_scale_of_a_multi_frame_model_names_the_shipped_ones():
    from vsr.models import load_model, weights_path

    shipped = [s for s in (2, 3, 4) if weights_path("multiframe_refine", s).is_file()]
    missing = next((s for s in (2, 3, 4) if s not in shipped), None)
    if missing is None:
        pytest.skip("shipped at every scale")
    with pytest.raises(vsr.errors.UnsupportedModelError, match="shipped scales for multiframe_refine: "
                       + (", ".join(map(str, shipped)) or "none")):
        load_model("multiframe_refine", missing)


def test_a_fresh_refine_model_returns_the_classical_fusion_it_is_given():
    from vsr.engine.bicubic import BicubicEngine

    refine = build("multiframe_refine", 2, {**TINY, "frames": 3, "single": "bicubic"}).eval()
    refine.init_from_single(_tiny_single(2))
    assert refine.in_channels == stack_channels(3) + 4
    fuser = MultiFrameSR(2, MultiFrameSettings(frames=3))
    for s in range(3):
        fuser.push(np.roll(_texture(20, 24), s, axis=1))
    fuser.finish()
    fusion = LearnedFusion(SRModel("multiframe_refine", 2, refine, False, None, frames=3), "cpu", "fp32")
    assert isinstance(fusion.single, BicubicEngine)
    inits = [p.copy() for p in BicubicEngine(2, 255).collect(BicubicEngine(2, 255).submit([fuser.plane(1)]))]
    classical = fuser.fuse([1], inits)
    inputs = fusion_inputs(fuser, [1], fusion.single)
    assert inputs.shape == (1, 9, 20, 24)
    assert torch.allclose(torch.nn.functional.pixel_shuffle(inputs[:, 5:], 2) * 255.0, classical, atol=1e-3)
    assert torch.allclose(fusion.fuse(fuser, [1]), classical, atol=1e-3)  # it starts as the classical fusion


def test_a_refine_model_trains_on_the_fusion_of_the_model_it_starts_from():
    from vsr.engine.fusion import single_frame_engine

    refine = build("multiframe_refine", 2, {**TINY, "frames": 3, "single": "residual"}).eval()
    start = SRModel("residual", 2, _tiny_single(2, seed=3), False, None)
    luma = np.rint(_texture(12, 14)).astype(np.uint8)
    engine = single_frame_engine(refine, 2, "cpu", "fp32", single=start)
    with torch.inference_mode():
        expected = np.clip(start.module(torch.from_numpy(luma).float()[None, None] / 255.0)[0, 0].numpy() * 255.0, 0, 255)
    assert np.abs(engine.collect(engine.submit([luma]))[0] - expected).max() <= 1.0  # not the shipped residual x2


def test_a_refine_models_patches_are_flipped_and_turned_with_their_sub_pixel_phases():
    """The last s² channels of a refine model's input are an HR image's phases: a flipped or turned
    patch must still hold the phases of its (flipped or turned) HR target. Turned phase by phase,
    as the LR grid is, they would land on the wrong pixels."""
    from vsr.eval.protocol import Pair
    from vsr.train.data import PatchSampler

    rng = np.random.default_rng(0)
    hr = np.rint(rng.random((24, 28)) * 255).astype(np.float32)
    box = hr.reshape(12, 2, 14, 2).mean(axis=(1, 3))[None] / 255.0  # equivariant: turns with the HR
    phases = torch.nn.functional.pixel_unshuffle(torch.from_numpy(hr)[None, None] / 255.0, 2)[0].numpy()
    pair = Pair("x", np.concatenate([box, phases]).astype(np.float32), hr)
    generator = torch.Generator().manual_seed(0)
    for hr_phases, consistent in ((4, True), (0, False)):
        sampler = PatchSampler([pair], scale=2, patch_size=6, batch_size=32, hr_phases=hr_phases)
        lr, target = sampler.sample(generator)
        assert torch.allclose(torch.nn.functional.avg_pool2d(target, 2), lr[:, :1], atol=1e-6)
        assert torch.allclose(torch.nn.functional.pixel_shuffle(lr[:, 1:], 2), target, atol=1e-6) == consistent
    raw = {
        "model": {"arch": "multiframe_refine", "scale": 2, "hparams": {**TINY, "frames": 3}},
        "data": {"train_dirs": ["x"], "flips": True, "rot90": True},
        "multiframe": {},
        "train": {"iterations": 1},
    }
    assert config_from_dict(raw).data.flips  # so refine configs may flip and rotate


def test_a_moving_object_moves_against_a_still_picture_and_the_reference_shows_it():
    from vsr.train.sequences import add_moving_object

    still = _texture(96, 128, seed=5)
    frames = add_moving_object([still] * 3, _texture(96, 128, seed=6), 3.0, 4, np.random.default_rng(2))
    changed = [np.abs(f.astype(int) - still) > 2 for f in frames]
    assert all(c.mean() > 0.01 for c in changed)  # the object is in every frame, the reference included
    assert not np.array_equal(changed[0], changed[2])  # and somewhere else in each
    assert (~(changed[0] | changed[1] | changed[2])).mean() > 0.5  # the rest of the picture stays put
