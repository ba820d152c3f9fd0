"""Out-of-memory handling and tiling of the model engine, on the CPU (no GPU needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vsr.models import build
from vsr.engine.cpu import CpuEngine
from vsr.engine.tiling import ChunkPlan, forward_resilient, forward_tiled, pad_batch


@pytest.fixture(scope="module")
def residual_x2() -> nn.Module:
    torch.manual_seed(0)
    module = build("residual", 2).eval()
    for parameter in module.parameters():  # the shipped init is bicubic-exact: give it real work
        nn.init.normal_(parameter, std=0.05)
    return module


class RaisesOutOfMemory(nn.Module):
    """Wraps a module and raises OutOfMemoryError for inputs over a batch or a pixel budget."""

    def __init__(self, inner: nn.Module, max_batch: int, max_pixels: int) -> None:
        super().__init__()
        self.inner, self.max_batch, self.max_pixels = inner, max_batch, max_pixels
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        if x.shape[0] > self.max_batch or x.shape[-1] * x.shape[-2] > self.max_pixels:
            raise torch.OutOfMemoryError("injected")
        return self.inner(x)


def test_tiled_equals_untiled(residual_x2: nn.Module) -> None:
    x = torch.rand(2, 1, 75, 97)
    with torch.inference_mode():
        whole = residual_x2(x)
        tiled = forward_tiled(residual_x2, x, 2, tile=32)
    assert tiled.shape == whole.shape == (2, 1, 150, 194)
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_out_of_memory_shrinks_batch_then_tiles_and_keeps_every_frame(residual_x2: nn.Module) -> None:
    x = torch.rand(5, 1, 64, 80)
    flaky = RaisesOutOfMemory(residual_x2, max_batch=1, max_pixels=70 * 70)
    plan = ChunkPlan()
    with torch.inference_mode():
        expected = residual_x2(x)
        out = forward_resilient(flaky, x, 2, plan)
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=1e-5)
    assert plan.batch == 1 and plan.tile is not None and plan.tile <= 64
    assert all(shape[0] <= 5 for shape in flaky.shapes)


def test_out_of_memory_everywhere_is_an_error_not_a_dropped_frame(residual_x2: nn.Module) -> None:
    flaky = RaisesOutOfMemory(residual_x2, max_batch=0, max_pixels=0)
    with pytest.raises(torch.OutOfMemoryError), torch.inference_mode():
        forward_resilient(flaky, torch.rand(2, 1, 64, 64), 2, ChunkPlan())


def test_engine_with_tiles_matches_within_one_level(residual_x2: nn.Module) -> None:
    rng = np.random.default_rng(1)
    lumas = [rng.integers(16, 236, (45, 67), dtype=np.uint8) for _ in range(3)]
    whole = CpuEngine(residual_x2, 2, "fp32", 255)
    tiled = CpuEngine(residual_x2, 2, "fp32", 255)
    tiled.plan = ChunkPlan(batch=1, tile=32)
    for a, b in zip(whole.collect(whole.submit(lumas)), tiled.collect(tiled.submit(lumas))):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_reused_buffers_do_not_leak_one_frame_into_the_next(residual_x2: nn.Module) -> None:
    rng = np.random.default_rng(2)
    first = [rng.integers(0, 256, (40, 48), dtype=np.uint8)]
    second = [np.full((40, 48), 128, dtype=np.uint8)]
    engine = CpuEngine(residual_x2, 2, "fp32", 255)
    engine.collect(engine.submit(first))
    after_other = engine.collect(engine.submit(second))[0].copy()
    fresh = CpuEngine(residual_x2, 2, "fp32", 255)
    alone = fresh.collect(fresh.submit(second))[0]
    assert np.array_equal(after_other, alone)


def test_a_short_batch_is_padded_with_zero_frames_to_the_planned_shape():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    padded = pad_batch(x, 5)
    assert padded.shape == (5, 1, 3, 4)
    assert torch.equal(padded[:2], x) and not padded[2:].any()
    assert padded.is_contiguous(memory_format=torch.channels_last)
    assert pad_batch(x, 2) is x and pad_batch(x, 1) is x
