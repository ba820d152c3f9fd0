"""The fused CPU graph: same 8-bit output as the plain model, activations really fused, safe fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.models import load_model, shipped_models
from vsr.engine.cpu_graph import FusedConv, build_cpu_graph, receptive_radius, shuffle_phases
from vsr.engine.cpu import CpuEngine
from tinymodels import TinyConv


def _texture(height: int = 37, width: int = 53, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width)).astype(np.float32)
    smooth = np.add.outer(np.linspace(0, 120, height), np.linspace(0, 100, width))
    return np.clip(0.5 * noise + smooth, 0, 255).astype(np.uint8)


def _reference(module: torch.nn.Module, luma: np.ndarray) -> np.ndarray:
    """The plain model in fp32, quantised: what every faster path must reproduce."""
    x = torch.from_numpy(luma).float().div(255)[None, None]
    with torch.inference_mode():
        y = module.eval()(x)
    return y.mul(255).round().clamp(0, 255).to(torch.uint8)[0, 0].numpy()


@pytest.mark.parametrize("name,scale", shipped_models())
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_fused_graph_matches_the_plain_model_within_one_level(name: str, scale: int, precision: str) -> None:
    model = load_model(name, scale)
    if precision == "bf16" and not model.supports_half:
        pytest.skip("model not declared half-safe")
    luma = _texture()
    engine = CpuEngine(model.module, scale, precision, 255)
    assert engine.graph is not None, "shipped models must get the fused graph"
    out = engine.collect(engine.submit([luma]))[0]
    ref = _reference(model.module, luma)
    assert out.shape == ref.shape == (37 * scale, 53 * scale)
    diff = np.abs(out.astype(int) - ref)
    if precision == "fp32":
        assert diff.max() <= 1, diff.max()
        return
    # bf16: no worse than the same model under plain autocast
    plain = CpuEngine(model.module, scale, precision, 255)
    plain.graph, plain.module = None, model.module
    autocast_diff = np.abs(plain.collect(plain.submit([luma]))[0].astype(int) - ref)
    # no worse than autocast but for isolated rounding ties: espcn x3 (60000 iterations) has one
    # pixel in 17 600 two levels off where autocast is within one
    assert diff.max() <= max(1, autocast_diff.max()) + 1
    assert np.mean(diff > max(1, autocast_diff.max())) <= 1e-3
    assert np.mean(diff.astype(float) ** 2) < 0.5  # off by one level in under half the pixels: > 51 dB


def test_espcn_relus_are_fused_into_its_convolutions() -> None:
    graph = build_cpu_graph(load_model("espcn", 4).module, "bf16")
    convs = [m for m in graph.module.modules() if isinstance(m, FusedConv)]
    assert [c.activation for c in convs] == ["relu", "relu", "none"]
    assert not any(isinstance(m, torch.nn.ReLU) for m in graph.module.modules())
    assert graph.shuffled is False
    # 8-bit levels are exact in bf16, so the first convolution takes them as they are, with split weights
    assert graph.levels and graph.input_dtype == torch.bfloat16 and convs[0].split
    assert all(c.dtype == torch.bfloat16 for c in convs)
    # biases stay fp32: rounded to bf16 they shift whole channels, 3 levels on espcn x4's output
    assert all(c.bias.dtype == torch.float32 for c in convs)
    ten_bit = build_cpu_graph(load_model("espcn", 4).module, "bf16", max_value=1023)
    assert ten_bit.input_dtype == torch.float32
    assert [m.dtype for m in ten_bit.module.modules() if isinstance(m, FusedConv)][:2] == [torch.float32, torch.bfloat16]


def test_ten_bit_video_through_the_graph_matches_the_plain_model() -> None:
    model = load_model("espcn", 2)
    luma = _texture().astype(np.uint16) * 4 + 1
    engine = CpuEngine(model.module, 2, "bf16", 1023)
    out = engine.collect(engine.submit([luma]))[0]
    with torch.inference_mode():
        ref = model.module(torch.from_numpy(luma.astype(np.float32) / 1023)[None, None])
    ref = ref.mul(1023).round().clamp(0, 1023)[0, 0].numpy()
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - ref).max() <= 4  # one 8-bit level


def test_a_module_of_unknown_layers_is_run_as_it_is() -> None:
    engine = CpuEngine(TinyConv(2), 2, "fp32", 255)
    assert engine.graph is None
    luma = _texture(16, 20)
    assert np.array_equal(engine.collect(engine.submit([luma]))[0], _reference(TinyConv(2), luma))


def test_tiles_of_the_graph_equal_the_whole_frame() -> None:
    model = load_model("residual", 2)
    luma = _texture(70, 90)
    whole = CpuEngine(model.module, 2, "fp32", 255)
    tiled = CpuEngine(model.module, 2, "fp32", 255)
    tiled.plan.tile = 32
    assert tiled.plan.overlap == receptive_radius(model.module) >= 19
    assert np.array_equal(whole.collect(whole.submit([luma]))[0], tiled.collect(tiled.submit([luma]))[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_shuffle_phases_is_the_pixel_shuffle(dtype: torch.dtype) -> None:
    phases = torch.randint(0, 255, (2, 9, 5, 7)).to(dtype)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = shuffle_phases(phases.contiguous(memory_format=layout), 3)
        assert torch.equal(got, F.pixel_shuffle(phases.float(), 3)[:, 0].to(dtype))


def test_a_torch_build_without_the_fused_kernel_falls_back_to_the_plain_model(monkeypatch) -> None:
    def missing(*args, **kwargs):
        raise RuntimeError("no mkldnn::_convolution_pointwise on this build")

    monkeypatch.setattr(FusedConv, "forward", missing)
    model = load_model("espcn", 2)
    engine = CpuEngine(model.module, 2, "fp32", 255)
    assert engine.graph is None
    luma = _texture()
    assert np.abs(engine.collect(engine.submit([luma]))[0].astype(int) - _reference(model.module, luma)).max() <= 1


def test_a_module_called_in_another_thread_during_a_trace_runs_as_it_would(monkeypatch) -> None:
    """torch.fx patches nn.Module for the whole process while it traces: a module called in another
    thread meanwhile (another run's, the embedding program's own) failed with "module is not
    installed as a submodule"."""
    import threading

    import vsr.engine.cpu_graph as cpu_graph_module

    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    x = torch.ones(1, 1, 8, 8)
    with torch.no_grad():
        expected = theirs(x)
    seen: list[object] = []
    real = cpu_graph_module._Tracer.is_leaf_module

    def in_the_trace(self, module, name):  # the trace is on: call their module from another thread
        if not seen:
            def call() -> None:
                try:
                    with torch.no_grad():
                        seen.append(torch.equal(theirs(x), expected))
                except Exception as exc:  # noqa: BLE001 - what the other thread got
                    seen.append(exc)
            thread = threading.Thread(target=call)
            thread.start()
            thread.join()
        return real(self, module, name)

    monkeypatch.setattr(cpu_graph_module._Tracer, "is_leaf_module", in_the_trace)
    build_cpu_graph(load_model("espcn", 2).module, "bf16")
    assert seen == [True]


def test_a_graph_is_built_once_for_a_models_weights_precision_and_depth() -> None:
    """Each build leaves torch.fx's generated code in memory for good: a program upscaling video
    after video (the model loaded afresh each time) grew by every call."""
    from vsr.engine.cpu_graph import cpu_graph

    first, again = load_model("espcn", 2).module, load_model("espcn", 2).module
    graph = cpu_graph(first, "bf16")
    assert cpu_graph(again, "bf16") is graph
    assert cpu_graph(again, "fp32") is not graph and cpu_graph(again, "bf16", 1023) is not graph
    with torch.no_grad():
        again.get_submodule(next(n for n, m in again.named_modules() if isinstance(m, torch.nn.Conv2d))).bias.add_(0.5)
    changed = cpu_graph(again, "bf16")
    assert changed is not graph
    luma = _texture()
    old, new = (CpuEngine(m, 2, "bf16", 255) for m in (first, again))
    assert new.graph is changed
    assert not np.array_equal(old.collect(old.submit([luma]))[0], new.collect(new.submit([luma]))[0])


def test_models_that_differ_only_in_settings_a_trace_bakes_in_get_graphs_of_their_own() -> None:
    """SRCNN x2 and x3 with the same weights (its scale is a plain attribute) shared the x2 graph: the
    x3 engine failed; a residual weight (res_scale) changed the output in silence."""
    from vsr.engine.cpu_graph import cpu_graph
    from vsr.models.registry import build

    two, three = build("srcnn", 2), build("srcnn", 3)
    three.load_state_dict(two.state_dict())
    assert cpu_graph(two, "fp32") is not cpu_graph(three, "fp32")
    engine = CpuEngine(three, 3, "fp32", 255)
    assert engine.collect(engine.submit([_texture()]))[0].shape == (37 * 3, 53 * 3)
    plain = build("residual", 2, {"channels": 8, "blocks": 1, "res_scale": 1.0})
    damped = build("residual", 2, {"channels": 8, "blocks": 1, "res_scale": 0.1})
    damped.load_state_dict(plain.state_dict())
    assert cpu_graph(plain, "fp32") is not cpu_graph(damped, "fp32")
