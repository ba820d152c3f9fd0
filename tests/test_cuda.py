"""The CUDA engine: known answers batched and one at a time, fp16 against fp32, and a whole run.

Skipped without a CUDA device. Exact comparisons use NeighbourShuffle (tests/tinymodels.py),
which moves samples without arithmetic, so it is exact in fp16 for 8-bit samples whatever
kernels run; a shipped network is compared with a tolerance of one 8-bit level: the contract
of `supports_half`, and cudnn.benchmark may pick different kernels for different batch sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vsr
from vsr.models import load_model, shipped_models, weights_path
from vsr.models.registry import MULTI_FRAME_ARCHS
from vsr.engine import make_engine
from vsr.resample.bicubic import upscale_bicubic
from vsr.engine.cuda import CudaEngine
from tinymodels import NeighbourShuffle, lumas, neighbour_shuffle, sr_model
from videoclips import draw_frame, raw_planes, read_index, read_video

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SHIPPED = shipped_models()


def natural_lumas(count: int, height: int = 72, width: int = 96) -> list[np.ndarray]:
    """Luma planes of the synthetic moving picture (something a model was trained for, unlike noise)."""
    frames = [draw_frame(i, width, height) for i in range(count)]
    return [np.ascontiguousarray((0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]).round().astype(np.uint8)) for f in frames]


def run_engine(engine, planes: list[np.ndarray], batch: int) -> list[np.ndarray]:
    out = []
    for first in range(0, len(planes), batch):
        out += [p.copy() for p in engine.collect(engine.submit(planes[first : first + batch]))]
    return out


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_engine_known_answer_batched_and_single(precision):
    model = sr_model(NeighbourShuffle(), supports_half=True)
    engine = make_engine(model, device="cuda", precision=precision, max_value=255)
    assert isinstance(engine, CudaEngine) and engine.precision == precision
    planes = lumas(7, 24, 35, seed=3)
    expected = [neighbour_shuffle(p) for p in planes]
    for batch in (1, 3, 7):
        got = run_engine(engine, planes, batch)
        assert all(g.dtype == np.uint8 and np.array_equal(g, e) for g, e in zip(got, expected)), f"batch {batch}"


def test_ensemble_on_cuda_is_the_known_answer_in_every_orientation():
    """--ensemble on CUDA: turned batches (width and height swapped) through the pinned-buffer ring,
    each turned back; NeighbourShuffle is exact, so the mean is known to the sample."""
    from vsr.models.ensemble import self_ensemble

    engine = make_engine(sr_model(NeighbourShuffle(), supports_half=True), device="cuda", precision="fp16",
                         max_value=255, ensemble=True)
    planes = lumas(5, 20, 33, seed=6)
    expected = self_ensemble(lambda ps: [neighbour_shuffle(p) for p in ps], planes)
    for batch in (1, 5):
        got = run_engine(engine, planes, batch)
        assert all(np.array_equal(g, np.rint(e)) for g, e in zip(got, expected)), f"batch {batch}"


def test_cuda_engine_keeps_two_batches_in_flight_apart():
    """submit A, submit B, then collect A and B: the ring of two pinned buffers must not mix them."""
    engine = make_engine(sr_model(NeighbourShuffle()), device="cuda", precision="fp32", max_value=255)
    a, b = lumas(2, 16, 20, seed=4), lumas(2, 16, 20, seed=5)
    handle_a = engine.submit(a)
    handle_b = engine.submit(b)
    got_a = [p.copy() for p in engine.collect(handle_a)]
    got_b = [p.copy() for p in engine.collect(handle_b)]
    assert all(np.array_equal(g, neighbour_shuffle(p)) for g, p in zip(got_a, a))
    assert all(np.array_equal(g, neighbour_shuffle(p)) for g, p in zip(got_b, b))


def test_cuda_engine_ten_bit_round_trip():
    engine = make_engine(sr_model(NeighbourShuffle()), device="cuda", precision="fp32", max_value=1023)
    planes = lumas(3, 10, 14, 1023, seed=6)
    planes[0][0, :3] = [0, 1022, 1023]
    got = run_engine(engine, planes, 3)
    for g, p in zip(got, planes):
        assert g.dtype == np.uint16
        assert np.array_equal(g, neighbour_shuffle(p))


@pytest.mark.parametrize("name,scale", SHIPPED or [pytest.param("none", 0, marks=pytest.mark.skip(reason="no shipped weights"))])
def test_fp16_is_within_one_level_of_fp32_for_a_shipped_model(name, scale):
    model = load_model(name, scale)
    if not model.supports_half:
        pytest.skip(f"{name} x{scale} is not declared half-safe")
    planes = natural_lumas(4)
    fp32 = run_engine(make_engine(model, device="cuda", precision="fp32"), planes, 4)
    fp16 = run_engine(make_engine(load_model(name, scale), device="cuda", precision="fp16"), planes, 4)
    for a, b in zip(fp32, fp16):
        assert a.shape == (72 * scale, 96 * scale)
        assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


@pytest.mark.parametrize("name,scale", SHIPPED or [pytest.param("none", 0, marks=pytest.mark.skip(reason="no shipped weights"))])
def test_batched_is_one_at_a_time_for_a_shipped_model(name, scale):
    engine = make_engine(load_model(name, scale), device="cuda", precision="fp32")
    planes = natural_lumas(5)
    batched, single = run_engine(engine, planes, 5), run_engine(engine, planes, 1)
    for a, b in zip(batched, single):
        assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1
    assert np.mean([np.mean(a != b) for a, b in zip(batched, single)]) < 1e-3


@pytest.mark.parametrize("pix_fmt,precision", [("yuv420p", "auto"), ("yuv420p10le", "fp32")])
def test_upscale_video_on_cuda(make_clip, tmp_path, pix_fmt, precision):
    source = make_clip("in.mkv", frames=12, pix_fmt=pix_fmt, audio=("opus",))
    model = sr_model(NeighbourShuffle(), supports_half=True)
    result = vsr.upscale_video(
        source, tmp_path / "out.mkv", scale=2, model=model, device="cuda", precision=precision, batch_size=5,
        codec="ffv1",
    )
    assert result.device == "cuda"
    assert result.precision == ("fp16" if precision == "auto" else "fp32")
    before, after = read_video(source), read_video(result.output)
    assert after.pts == before.pts
    assert [read_index(y, 64, 48) for y in after.lumas] == list(range(12))
    if pix_fmt == "yuv420p":  # 8-bit: exact even in fp16
        for planes_in, planes_out in zip(raw_planes(source), raw_planes(result.output)):
            assert np.array_equal(planes_out[0], neighbour_shuffle(planes_in[0]))


@pytest.mark.skipif(not shipped_models(), reason="no shipped weights")
def test_upscale_video_on_cuda_with_the_default_model(make_clip):
    source = make_clip("in.mp4", frames=8, audio=("aac",))
    result = vsr.upscale_video(source, scale=2, device="cuda", preset="ultrafast")
    assert result.device == "cuda" and result.frames == 8
    assert [read_index(y, 64, 48) for y in read_video(result.output).lumas] == list(range(8))


@pytest.mark.parametrize("max_value", [255, 1023])
def test_chroma_is_upscaled_on_the_gpu_like_opencv(max_value):
    engine = make_engine(sr_model(NeighbourShuffle(), 2), device="cuda", precision="fp32", max_value=max_value)
    assert engine.upscales_chroma
    frames = [[y, u, v] for y, u, v in zip(lumas(3, 24, 36, max_value, seed=8), lumas(3, 12, 18, max_value, seed=9),
                                            lumas(3, 12, 18, max_value, seed=10))]
    handle = engine.submit_frames(frames)
    for planes_in, planes_out in zip(frames, engine.collect_frames(handle)):
        assert np.array_equal(planes_out[0], neighbour_shuffle(planes_in[0]))
        for chroma_in, chroma_out in zip(planes_in[1:], planes_out[1:]):
            expected = upscale_bicubic(chroma_in, 2, max_value)
            assert chroma_out.shape == (24, 36) and chroma_out.dtype == expected.dtype
            assert np.abs(chroma_out.astype(np.int32) - expected).max() <= 1


def test_batch_size_comes_from_free_memory():
    engine = make_engine(sr_model(NeighbourShuffle(), 2, supports_half=True), device="cuda", precision="fp16")
    small, large = engine.suggest_batch(320, 180), engine.suggest_batch(3840, 2160)
    assert 1 <= large <= small <= 32


def test_injected_out_of_memory_shrinks_the_batch_and_keeps_every_frame(monkeypatch):
    engine = make_engine(sr_model(NeighbourShuffle(), 2, supports_half=True), device="cuda", precision="fp16")
    inner = engine.module

    def flaky(x):
        if x.shape[0] > 1:
            raise torch.OutOfMemoryError("injected")
        return inner(x)

    monkeypatch.setattr(engine, "module", flaky)
    planes = lumas(5, 45, 67)
    out = run_engine(engine, planes, batch=5)
    assert len(out) == 5 and engine.plan.batch == 1
    for plane, result in zip(planes, out):
        assert np.array_equal(result, neighbour_shuffle(plane))


MULTI_FRAME_SHIPPED = [n for n in MULTI_FRAME_ARCHS if weights_path(n, 4).is_file()]


@pytest.mark.parametrize("name", MULTI_FRAME_SHIPPED)
def test_learned_fusion_on_cuda_agrees_with_the_cpu(name):
    from vsr.misr import MultiFrameSettings, MultiFrameSR
    from vsr.engine.fusion import LearnedFusion

    model = load_model(name, 4)
    fuser = MultiFrameSR(4, MultiFrameSettings(frames=model.module.frames))
    for plane in natural_lumas(5):
        fuser.push(plane)
    fuser.finish()
    cpu = LearnedFusion(model, "cpu", "fp32").fuse(fuser, [2]).round().clamp(0, 255)
    for precision in ("fp32", "fp16") if model.supports_half else ("fp32",):
        gpu = LearnedFusion(load_model(name, 4), "cuda", precision).fuse(fuser, [2]).cpu().round().clamp(0, 255)
        # a refine model's single-frame estimate also runs on CUDA (fp16 where half-safe), and its
        # one-level differences pass through the classical fusion: bound the mean tightly, the max loosely
        diff = (gpu - cpu).abs()
        assert float(diff.mean()) <= 0.1 and float(diff.max()) <= 3.0, precision


def test_a_callers_loaded_model_is_not_converted_by_a_cuda_run(make_clip, tmp_path):
    """Module.to converts in place: after an fp16 CUDA run the caller's model was fp16 on the GPU,
    and the same SRModel then failed on the CPU."""
    model = load_model("espcn", 2)
    source = make_clip("in.mp4", frames=3)
    vsr.upscale_video(source, tmp_path / "gpu.mp4", model=model, device="cuda", precision="fp16")
    parameter = next(model.module.parameters())
    assert (parameter.device.type, parameter.dtype) == ("cpu", torch.float32)
    assert vsr.upscale_video(source, tmp_path / "cpu.mp4", model=model, device="cpu").frames == 3
