"""vsr.misr.fuse: the degradation model is MATLAB's imresize and its adjoint its transpose; the
back-projection solvers behave on one frame and on identical frames; bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from textures import texture
from vsr.misr.fuse import FusionSettings, bi_downscale, bi_downscale_adjoint, bicubic_upscale, fuse
from vsr.resample.matlab import imresize


# --- degradation model -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("antialias", [True, False])
def test_bi_downscale_is_matlab_imresize_borders_included(scale, antialias):
    image = np.random.default_rng(scale).uniform(0, 255, (7 * scale, 5 * scale)).astype(np.float32)
    expected = imresize(image, 1 / scale, antialias=antialias)
    got = bi_downscale(torch.from_numpy(image)[None, None], scale, antialias)[0, 0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_upscale_is_torch_bicubic(scale):
    x = torch.rand(2, 1, 6, 9) * 255
    expected = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(bicubic_upscale(x, scale), expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_adjoint_of_the_downscale_is_its_transpose(scale):
    gen = torch.Generator().manual_seed(scale)
    x = torch.rand(2, 1, 6 * scale, 5 * scale, generator=gen, dtype=torch.float64)
    g = torch.rand(2, 1, 6, 5, generator=gen, dtype=torch.float64)
    for antialias in (True, False):
        lhs = float((bi_downscale(x, scale, antialias) * g).sum())
        rhs = float((x * bi_downscale_adjoint(g, scale, antialias)).sum())
        assert lhs == pytest.approx(rhs, rel=1e-9)


# --- fusion -----------------------------------------------------------------------------------


def test_fuse_with_one_frame_is_back_projection_of_the_reference():
    lr = torch.from_numpy(texture(12, 12, seed=7))[None, None]
    init = bicubic_upscale(lr, 2)
    zeros = torch.zeros(1, 1, 2, 12, 12)
    out = fuse(init, lr, zeros, zeros, torch.ones(1, 1, 12, 12), torch.ones(1, 1, 12, 12), 2, FusionSettings(iterations=0))
    torch.testing.assert_close(out, init)
    out = fuse(init, lr, zeros, zeros, torch.ones(1, 1, 12, 12), torch.ones(1, 1, 12, 12), 2, FusionSettings(iterations=20))
    # back-projection makes the estimate more consistent with its own LR frame
    assert float((bi_downscale(out, 2) - lr).abs().mean()) < 0.9 * float((bi_downscale(init, 2) - lr).abs().mean())


def test_the_conjugate_gradient_solver_fuses_identical_frames_like_one():
    lr = torch.from_numpy(texture(16, 16, seed=17))[None, None]
    init = bicubic_upscale(lr, 2)
    settings = FusionSettings(solver="cg", iterations=4, reweights=2)
    one = fuse(init, lr, torch.zeros(1, 1, 2, 16, 16), torch.zeros(1, 1, 2, 16, 16),
               torch.ones(1, 1, 16, 16), torch.ones(1, 1, 16, 16), 2, settings)
    lr5 = lr.expand(1, 5, 16, 16).contiguous()
    five = fuse(init, lr5, torch.zeros(1, 5, 2, 16, 16), torch.zeros(1, 5, 2, 16, 16),
                torch.ones(1, 5, 16, 16), torch.ones(1, 5, 16, 16), 2, settings)
    assert float((bi_downscale(one, 2) - lr).abs().mean()) < float((bi_downscale(init, 2) - lr).abs().mean())
    # the same data five times is the same least-squares problem with a weaker prior: close, not equal
    assert float((one - five).abs().mean()) < 1.0


@pytest.mark.parametrize("bad", [{"iterations": -1}, {"robust": "huber"}, {"robust_window": 2}, {"solver": "sgd"},
                                 {"warp_mode": "nearest"}, {"step": 0}])
def test_invalid_fusion_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        FusionSettings(**bad)
