"""vsr.misr.align: dense flow recovers known shifts, warps are known resamplings, confidence checks round trips.

Tiny synthetic frames (a few dozen pixels a side): the file takes about a second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textures import fourier_shift, texture
from vsr.misr.align import (
    FlowEstimator,
    consistency_confidence,
    estimate_flow,
    upscale_flow,
    warp,
)


@pytest.mark.parametrize("dx, dy", [(2.0, -1.0), (0.3, 0.7), (-1.25, 0.5), (0.0, 0.0)])
def test_flow_recovers_a_known_integer_or_subpixel_shift_within_a_tenth_of_a_pixel(dx, dy):
    ref = texture(64, 80, seed=1)
    src = fourier_shift(ref, dx, dy)  # src(x + d) = ref(x): the flow from ref to src is d
    flow = estimate_flow(np.clip(np.rint(ref), 0, 255).astype(np.uint8), np.clip(np.rint(src), 0, 255).astype(np.uint8))
    assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert abs(float(np.median(inner[..., 0])) - dx) < 0.1
    assert abs(float(np.median(inner[..., 1])) - dy) < 0.1
    assert float(np.mean(np.hypot(inner[..., 0] - dx, inner[..., 1] - dy))) < 0.1


def test_flow_accepts_ten_bit_planes():
    ref = texture(48, 48, seed=2)
    src = fourier_shift(ref, 1.0, 0.0)
    as10 = lambda a: np.clip(np.rint(a * 4), 0, 1023).astype(np.uint16)  # noqa: E731
    flow = FlowEstimator(max_value=1023)(as10(ref), as10(src))
    assert abs(float(np.median(flow[8:-8, 8:-8, 0])) - 1.0) < 0.1


def test_warping_by_a_constant_integer_flow_equals_a_shift():
    image = torch.from_numpy(texture(20, 24, seed=3))[None, None]
    flow = torch.zeros(1, 2, 20, 24)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # out(x, y) = image(x + 3, y − 2)
    for mode in ("bilinear", "bicubic", "nearest"):
        out = warp(image, flow, mode=mode)
        torch.testing.assert_close(out[0, 0, 2:, :-3], image[0, 0, :-2, 3:], atol=1e-3, rtol=0)


def test_warping_by_a_constant_subpixel_flow_equals_linear_interpolation():
    image = torch.from_numpy(texture(16, 16, seed=4))[None, None]
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = 0.25
    out = warp(image, flow, mode="bilinear")
    expected = 0.75 * image[..., :, :-1] + 0.25 * image[..., :, 1:]
    torch.testing.assert_close(out[..., :, :-1], expected, atol=1e-3, rtol=0)


def test_warp_with_zero_flow_is_the_identity():
    image = torch.from_numpy(texture(12, 18, seed=5))[None, None]
    for mode in ("bilinear", "bicubic"):
        torch.testing.assert_close(warp(image, torch.zeros(1, 2, 12, 18), mode=mode), image, atol=1e-3, rtol=0)


def test_upscaled_flow_keeps_a_constant_motion_in_hr_pixels():
    flow = torch.zeros(1, 2, 5, 7)
    flow[:, 0], flow[:, 1] = 0.5, -0.25
    up = upscale_flow(flow, 4)
    assert up.shape == (1, 2, 20, 28)
    torch.testing.assert_close(up[:, 0], torch.full((1, 20, 28), 2.0))
    torch.testing.assert_close(up[:, 1], torch.full((1, 20, 28), -1.0))


def test_forward_backward_consistency_trusts_inverse_flows_and_rejects_the_rest():
    fw = torch.zeros(1, 2, 16, 16)
    fw[:, 0] = 1.0
    good = consistency_confidence(fw, -fw)
    bad = consistency_confidence(fw, fw)  # the round trip misses by 2 px
    assert float(good[..., :, :14].min()) > 0.99
    assert float(good[..., :, 15:].max()) == 0.0  # x + f(x) leaves the frame: nothing to align with
    assert float(bad.max()) < 0.01
