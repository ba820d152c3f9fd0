"""The luma engines and the upscale stage's plane handling, without files; and batching end to end.

Known answers: nearest-neighbour upsampling through the torch CPU engine is an exact repeat of
the input samples (8- and 10-bit); the quantiser rounds to nearest and clamps; the bicubic
engine is OpenCV's resize; a batch gives exactly what one frame at a time gives.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import vsr
from vsr.errors import ConfigError, UnsupportedModelError
from vsr.device import choose_precision
from vsr.engine import default_batch_size, make_engine
from vsr.engine.bicubic import BicubicEngine
from vsr.resample.bicubic import upscale_bicubic, upscale_bicubic_tensor
from vsr.engine.cpu import CpuEngine
from vsr.media.frames import Layout
from vsr.pipeline.upscale import fit_plane, upscale_planes
from tinymodels import NeighbourShuffle, Nearest, TinyConv, lumas, neighbour_shuffle, repeat, sr_model
from videoclips import raw_planes, read_index, read_video


@pytest.mark.parametrize("max_value,dtype", [(255, np.uint8), (1023, np.uint16)])
def test_cpu_engine_nearest_upsampling_returns_the_samples_exactly(max_value, dtype):
    engine = CpuEngine(Nearest(2), 2, "fp32", max_value)
    planes = lumas(3, 9, 13, max_value)  # odd sizes
    planes[0][0, :4] = [0, 1, max_value - 1, max_value]  # the extremes must survive the round trip
    out = engine.collect(engine.submit(planes))
    assert len(out) == 3
    for plane, result in zip(planes, out):
        assert result.dtype == dtype
        assert result.shape == (18, 26)
        assert np.array_equal(result, repeat(plane, 2))


class Constant(torch.nn.Module):
    """Ignores its input; returns `values` (one row) as every row of a (N, 1, 2H, 2W) output."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = torch.tensor(values, dtype=torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return self.values.expand(n, 1, 2 * h, 2 * w).clone()


@pytest.mark.parametrize("max_value", [255, 1023])
def test_cpu_engine_rounds_to_nearest_and_clamps(max_value):
    levels = [-0.3, 0.0, 0.4, 0.6, 100.49, 100.51, max_value - 0.2, max_value + 7.0]
    engine = CpuEngine(Constant([v / max_value for v in levels]), 2, "fp32", max_value)
    (out,) = engine.collect(engine.submit([np.zeros((3, 4), np.uint8 if max_value == 255 else np.uint16)]))
    assert out.shape == (6, 8)
    assert out[0].tolist() == [0, 0, 0, 1, 100, 101, max_value, max_value]
    assert (out == out[0]).all()


@pytest.mark.parametrize("max_value", [255, 1023])
def test_cpu_engine_batch_gives_exactly_what_one_frame_at_a_time_gives(max_value):
    engine = make_engine(sr_model(NeighbourShuffle()), device="cpu", precision="fp32", max_value=max_value)
    assert isinstance(engine, CpuEngine) and engine.precision == "fp32"
    planes = lumas(5, 12, 17, max_value, seed=1)
    batched = [p.copy() for p in engine.collect(engine.submit(planes))]
    single = [engine.collect(engine.submit([p]))[0].copy() for p in planes]
    for plane, a, b in zip(planes, batched, single):
        assert a.shape == (24, 34)
        assert np.array_equal(a, b)
        assert np.array_equal(a, neighbour_shuffle(plane))  # each frame kept its own place in the batch


def test_cpu_engine_batches_of_a_real_conv_net_agree_to_within_rounding():
    """With a dense fp32 convolution in channels_last, oneDNN's batched and single-image kernels
    may differ in the last bit (1e-7); a sample whose value lies that close to a rounding
    boundary then lands one level apart. Nothing more may differ."""
    engine = make_engine(sr_model(TinyConv(2)), device="cpu", precision="fp32", max_value=1023)
    planes = lumas(6, 24, 32, 1023, seed=2)
    batched = np.stack([p.copy() for p in engine.collect(engine.submit(planes))]).astype(np.int32)
    single = np.stack([engine.collect(engine.submit([p]))[0].copy() for p in planes]).astype(np.int32)
    difference = np.abs(batched - single)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 1e-3
    assert not np.array_equal(single[0], repeat(planes[0], 2))  # the net did more than the skip


def test_bicubic_engine_is_opencv_bicubic():
    engine = make_engine(vsr.load_model("bicubic", 3), device="cpu")
    assert isinstance(engine, BicubicEngine)
    planes = lumas(2, 7, 11)
    out = engine.collect(engine.submit(planes))
    for plane, result in zip(planes, out):
        assert np.array_equal(result, cv2.resize(plane, (33, 21), interpolation=cv2.INTER_CUBIC))
    ten_bit = lumas(1, 7, 11, 1023)[0]
    ten_bit[3, 4:6] = 1023, 0  # bicubic overshoots past full scale next to such an edge ...
    up = BicubicEngine(2, 1023).collect(BicubicEngine(2, 1023).submit([ten_bit]))[0]
    assert up.dtype == np.uint16 and up.max() == 1023  # ... which stays a 10-bit sample
    assert cv2.resize(ten_bit, (22, 14), interpolation=cv2.INTER_CUBIC).max() > 1023


def test_make_engine_uses_the_torch_cpu_engine_for_any_learned_model_whatever_its_name():
    engine = make_engine(sr_model(Nearest(2), name="bicubic"), device="cpu", precision="auto")
    assert isinstance(engine, CpuEngine)  # the descriptor decides (learned), not the name
    assert engine.precision == "fp32"  # not declared half-safe


def test_make_engine_refuses_a_multi_frame_model():
    model = vsr.SRModel("window", 2, Nearest(2), False, None, frames=3)
    with pytest.raises(UnsupportedModelError, match="multi-frame model"):
        make_engine(model, device="cpu")


def test_precision_rules():
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu, supports_half=False) == "fp32"
    assert choose_precision("fp32", cpu, supports_half=True) == "fp32"
    with pytest.raises(ConfigError, match="half precision"):
        choose_precision("bf16", cpu, supports_half=False)
    with pytest.raises(ConfigError, match="fp16"):
        choose_precision("fp16", cpu, supports_half=True)
    with pytest.raises(ConfigError, match="unknown precision"):
        choose_precision("fp8", cpu, supports_half=True)


@pytest.mark.parametrize("avx512_bf16, amx, chosen", [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")])
def test_auto_precision_is_bf16_only_where_an_x86_cpu_has_it_natively(monkeypatch, avx512_bf16, amx, chosen):
    """oneDNN reports bf16 support on any AVX-512 CPU (it emulates it, slower than fp32)."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert choose_precision("auto", torch.device("cpu"), supports_half=True) == chosen


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA device"):
        make_engine(sr_model(Nearest(2)), device="cuda")


def test_default_batch_size_is_between_1_and_16():
    engine = BicubicEngine(2)
    assert default_batch_size(engine, 64, 48) == 16
    assert default_batch_size(engine, 3840, 2160) == 1
    assert 1 <= default_batch_size(engine, 640, 360) <= 16


def test_fit_plane_crops_or_repeats_the_last_row_and_column():
    plane = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(fit_plane(plane, 4, 3), plane)
    assert np.array_equal(fit_plane(plane, 3, 2), plane[:2, :3])
    grown = fit_plane(plane, 5, 4)
    assert grown.shape == (4, 5)
    assert np.array_equal(grown[:3, :4], plane)
    assert np.array_equal(grown[:, 4], grown[:, 3]) and np.array_equal(grown[3], grown[2])


def test_upscale_planes_pads_odd_products_to_even_for_yuv420p():
    layout = Layout("yuv420p")
    luma = np.zeros((45 * 3, 67 * 3), np.uint8)  # 201x135 from a 67x45 frame
    chroma = [np.full((23, 34), 100, np.uint8), np.full((23, 34), 150, np.uint8)]
    planes = upscale_planes(luma, chroma, 3, layout)
    assert [p.shape for p in planes] == [(136, 202), (68, 101), (68, 101)]
    assert (planes[1] == 100).all() and (planes[2] == 150).all()
    planes = upscale_planes(luma, chroma, 3, Layout("yuv444p"))
    assert planes[0].shape == (135, 201)


def test_layout_sizes():
    assert Layout("yuv420p").plane_sizes(67, 45) == [(67, 45), (34, 23), (34, 23)]
    assert Layout("yuv422p10le").plane_sizes(8, 6) == [(8, 6), (4, 6), (4, 6)]
    assert Layout("gray").plane_sizes(5, 3) == [(5, 3)]
    assert Layout("yuv420p").even_size(201, 135) == (202, 136)
    assert Layout("yuv444p").even_size(201, 135) == (201, 135)
    assert (Layout("yuv420p10le").max_value, Layout("yuv420p").max_value) == (1023, 255)
    with pytest.raises(ValueError, match="unsupported pixel format"):
        Layout("rgb24")


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_batch_sizes_give_identical_frames_end_to_end(make_clip, tmp_path, pix_fmt):
    """The torch CPU engine, lossless output: batches of 1, 3 (a ragged last batch) and 4 write
    the same samples, and the frames stay in order."""
    source = make_clip("in.mkv", frames=10, pix_fmt=pix_fmt)
    model = sr_model(NeighbourShuffle())
    outputs = []
    for batch in (1, 3, 4):
        result = vsr.upscale_video(
            source, tmp_path / f"b{batch}.mkv", scale=2, model=model, device="cpu", precision="fp32",
            batch_size=batch, codec="ffv1",
        )
        assert result.frames == 10 and result.precision == "fp32"
        outputs.append(raw_planes(result.output))
    for other in outputs[1:]:
        assert len(other) == len(outputs[0]) == 10
        for planes_a, planes_b in zip(outputs[0], other):
            assert all(np.array_equal(a, b) for a, b in zip(planes_a, planes_b))
    assert outputs[0][0][0].dtype == (np.uint16 if pix_fmt.endswith("10le") else np.uint8)
    assert [read_index(y, 64, 48) for y in read_video(tmp_path / "b4.mkv").lumas] == list(range(10))


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("max_value", [255, 1023])
def test_the_gpu_chroma_path_matches_opencv_bicubic_within_one_level(scale, max_value):
    """`upscale_bicubic_tensor` is what the CUDA engine runs on chroma; here on the CPU."""
    planes = lumas(2, 11, 17, max_value, seed=scale)
    planes[0][:] = cv2.GaussianBlur(planes[0], (0, 0), 1.5)  # a smooth plane and a noise plane
    tensor = torch.from_numpy(np.stack(planes).astype(np.int16) if max_value > 255 else np.stack(planes))
    out = upscale_bicubic_tensor(tensor, scale, max_value).numpy()
    for plane, got in zip(planes, out):
        expected = upscale_bicubic(plane, scale, max_value)
        assert got.shape == expected.shape == (11 * scale, 17 * scale) and expected.max() <= max_value
        assert np.abs(got.astype(np.int32) - expected).max() <= 1
