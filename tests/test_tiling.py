"""Cutting an image for a model: spans with context, and a receptive radius that really bounds each model."""

from __future__ import annotations

import pytest
import torch

from vsr.engine.tiling import Span, receptive_radius, spans
from vsr.models import build

torch.set_num_threads(1)


def test_spans_cover_the_range_once_with_clipped_context():
    cut = list(spans(3, 20, 5, 2, 21))
    assert [(s.start, s.stop) for s in cut] == [(3, 8), (8, 13), (13, 18), (18, 20)]
    assert [(s.context_start, s.context_stop) for s in cut] == [(1, 10), (6, 15), (11, 20), (16, 21)]
    first = cut[0]
    assert first.inner(3) == slice(6, 21) and first.output(3, origin=3) == slice(0, 15)
    assert Span(0, 4, 0, 6).inner(2) == slice(0, 8)


@pytest.mark.parametrize(
    "name,scale,hparams",
    [
        ("bicubic", 3, None),
        ("espcn", 4, None),
        ("residual", 2, {"blocks": 2, "channels": 8}),
        ("fsrcnn", 3, {"upsampler": "deconv"}),
        ("fsrcnn", 2, None),
        ("srcnn", 2, None),
    ],
)
def test_a_pixel_further_than_the_receptive_radius_changes_nothing(name, scale, hparams):
    module = build(name, scale, hparams).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():  # untrained last layers start at zero: wake every layer up
            parameter.normal_(0, 0.3)
    radius = receptive_radius(module)
    x = torch.rand(1, 1, 2 * radius + 12, 9)
    poked = x.clone()
    poked[0, 0, 0] += 1.0
    with torch.inference_mode():
        changed = (module(poked) - module(x)).abs().amax(dim=(0, 1, 3)) > 0
    rows = changed.nonzero().flatten()
    assert len(rows) and rows.max() < scale * (radius + 1)
