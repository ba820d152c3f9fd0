"""The pure parts of `vsr experiment`: BD-rate and BD-metric against known answers, the convex
hull, pooling, the VMAF stream against vmaf-torch on whole clips, and the settings."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from vsr.errors import ConfigError
from vsr.experiment.bdrate import bd
from vsr.experiment.hull import upper_hull
from vsr.experiment.measure import PointScorer, VmafStream, pool, vmaf_unavailable
from vsr.experiment.spec import ExperimentSettings, load_config, make_settings
from vsr.options import parse_bitrate

# the `bjontegaard` package README's example (FFmpeg libx265 at two presets)
RATE_ANCHOR = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_ANCHOR = [40.037, 38.615, 36.845, 34.851]
RATE_TEST = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_TEST = [40.121, 38.651, 36.970, 34.987]


@pytest.mark.parametrize(
    "method, rate_pct, metric",
    # the numbers bjontegaard 1.3.0 prints for its README example
    [("pchip", -4.417485350589045, 0.11969278542479489), ("akima", -4.425245156997493, 0.11940927028529469)],
)
def test_bd_matches_the_bjontegaard_readme_example(method, rate_pct, metric):
    result = bd(RATE_ANCHOR, PSNR_ANCHOR, RATE_TEST, PSNR_TEST, method)
    assert result.status == "ok"
    assert result.bd_rate_pct == pytest.approx(rate_pct, abs=1e-9)
    assert result.bd_metric == pytest.approx(metric, abs=1e-9)
    assert (result.anchor_points, result.test_points) == (4, 4)


@pytest.mark.parametrize("method", ["pchip", "akima"])
def test_bd_agrees_with_the_bjontegaard_package_on_uneven_curves(method):
    bjontegaard = pytest.importorskip("bjontegaard")
    anchor_rate, anchor_q = [300, 700, 1500, 3100, 6000], [31.0, 34.2, 36.9, 39.0, 40.4]
    test_rate, test_q = [280, 610, 1400, 2600, 5900], [31.4, 34.0, 37.3, 39.1, 40.9]
    result = bd(anchor_rate, anchor_q, test_rate, test_q, method)
    assert result.bd_rate_pct == pytest.approx(bjontegaard.bd_rate(anchor_rate, anchor_q, test_rate, test_q, method=method), abs=1e-9)
    assert result.bd_metric == pytest.approx(bjontegaard.bd_psnr(anchor_rate, anchor_q, test_rate, test_q, method=method), abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "akima"])
@pytest.mark.parametrize("k", [0.5, 0.8, 1.25, 2.0])
def test_a_curve_with_every_rate_times_k_has_a_bd_rate_of_exactly_k_minus_1(method, k):
    rates = [250.0, 600.0, 1300.0, 2900.0, 7000.0]
    quality = [30.0, 33.5, 36.0, 38.9, 41.0]
    result = bd(rates, quality, [k * r for r in rates], quality, method)
    assert result.bd_rate_pct == pytest.approx((k - 1) * 100, abs=1e-9)
    assert result.overlap == 1.0


def test_bd_is_na_with_fewer_than_four_points_or_too_little_overlap():
    few = bd([100, 200, 400], [30, 33, 35], [100, 200, 400], [31, 34, 36])
    assert few.bd_rate_pct is None and few.bd_metric is None
    assert few.status.startswith("n/a") and "3 point(s)" in few.status

    apart = bd([100, 200, 400, 800], [30, 32, 34, 36], [100, 200, 400, 800], [35, 37, 39, 41])
    assert apart.bd_rate_pct is None and "quality ranges overlap by 9%" in apart.status
    near = bd([100, 200, 400, 800], [30, 32, 34, 36], [100, 200, 400, 800], [30.86, 32.86, 34.86, 36.86])
    assert "overlap by 74.9% (under 75%)" in near.status  # 5.14 of 6.86 dB, not rounded up to "75%"
    assert apart.bd_metric is not None  # the rates overlap fully: BD-metric is still given

    falling = bd([100, 200, 400, 800], [30, 32, 31, 36], [100, 200, 400, 800], [30, 32, 34, 36])
    assert falling.bd_rate_pct is None and "does not rise" in falling.status


def test_upper_hull_known_answers():
    points = [(1, 1), (2, 3), (3, 3.5), (4, 5), (5, 4)]
    assert upper_hull(points) == [0, 1, 3]  # (3, 3.5) is under the (2,3)–(4,5) chord; (5, 4) is past the top
    # a point on a straight segment, a repeated rate, unsorted input, a NaN
    assert upper_hull([(4, 4), (1, 1), (2, 2), (3, 3), (2, 1.5), (6, float("nan"))]) == [1, 0]
    assert upper_hull([(2, 1.0), (2, 3.0)]) == [1]
    assert upper_hull([]) == []
    # a typical ladder: the low-resolution rungs win at low rates, the full resolution at high ones
    ladder = [(100, 60), (200, 72), (400, 80), (800, 84),  # x2
              (150, 50), (300, 70), (600, 84), (1200, 92), (2400, 96)]  # x1
    assert upper_hull(ladder) == [0, 1, 2, 6, 7, 8]


def test_pooling():
    values = np.array([90.0, 80.0, 70.0, 95.0, 0.0])
    pooled = pool(values)
    assert pooled["mean"] == pytest.approx(67.0)
    assert pooled["min"] == 0.0
    assert pooled["hmean"] == pytest.approx(5 / np.sum(1 / (values + 1)) - 1)
    assert pooled["p1"] == pytest.approx(np.percentile(values, 1))
    assert pooled["p5"] < pooled["mean"]
    assert all(math.isnan(v) for v in pool(np.array([])).values())


@pytest.mark.skipif(vmaf_unavailable() is not None, reason="vmaf-torch is not installed")
@pytest.mark.parametrize("neg", [False, True])
def test_vmaf_stream_equals_vmaf_torch_on_the_whole_clip(neg):
    import torch
    from vmaf_torch import VMAF

    import cv2

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.normal(128, 60, (64, 120)).astype(np.float32), (0, 0), 2.0)
    refs = [np.clip(base[:, 3 * t : 3 * t + 96], 0, 255).astype(np.uint8) for t in range(5)]
    dists = [cv2.GaussianBlur(r, (0, 0), 1.2) for r in refs]
    whole = VMAF(clip_score=True, NEG=neg).eval()
    with torch.no_grad():
        expected = whole(torch.from_numpy(np.stack(refs)).float()[:, None], torch.from_numpy(np.stack(dists)).float()[:, None])
    stream = VmafStream(neg=neg)
    got = []
    for t, (r, d) in enumerate(zip(refs, dists)):
        got += stream.push(t, r, d)
    got += stream.finish()
    assert [i for i, _ in got] == list(range(5))
    np.testing.assert_allclose([s for _, s in got], expected.reshape(-1).numpy(), atol=2e-3)
    assert max(s for _, s in got) < 99  # not all clipped at 100: the motion term matters


@pytest.mark.skipif(vmaf_unavailable() is not None, reason="vmaf-torch is not installed")
def test_point_scorer_writes_each_frame_once_in_order_with_its_vmaf():
    rng = np.random.default_rng(1)
    out = io.StringIO()
    scorer = PointScorer(("psnr", "ssim", "vmaf"), out, {"upscaler": "x"})
    for t in range(3):
        ref = rng.integers(0, 256, (48, 64)).astype(np.uint8)
        scorer.add(t, ref, ref)
    assert scorer.finish() == 3
    rows = [line.split(",") for line in out.getvalue().split()]
    assert [row[1] for row in rows] == ["0", "1", "2"]
    assert all(float(row[2]) == 60.0 and float(row[3]) == 1.0 for row in rows)  # identical: capped PSNR, SSIM 1


def test_settings_from_toml_and_flags(tmp_path):
    config = tmp_path / "ladder.toml"
    config.write_text('scales = [1, 2]\ncrfs = [30, 20, 25, 35]\nupscalers = ["bicubic", "espcn"]\nframes = 30\n')
    settings = make_settings(config, frames=10, metrics="vmaf")
    assert settings.scales == (1, 2) and settings.crfs == (20, 25, 30, 35) and settings.frames == 10
    assert settings.metrics == ("psnr", "ssim", "vmaf")  # PSNR and SSIM always
    assert settings.rate_mode == "crf" and settings.bd_warning() is None
    by_bitrate = make_settings(config, bitrates="500k,1M,2.5M")
    assert by_bitrate.rates == (500_000, 1_000_000, 2_500_000) and by_bitrate.rate_mode == "bitrate"
    assert by_bitrate.bd_warning() is not None  # three points
    assert parse_bitrate("800 kbps") == 800_000


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"scales": "1,5"}, "scales must be some of"),
        ({"crfs": "-1,20"}, "CRF runs from 0 to 51"),
        ({"crfs": "30,55"}, "CRF runs from 0 to 51, got 55"),  # x264 would encode 55 as 51: four equal points
        ({"crfs": "10,20", "codec": "mpeg4"}, "mpeg4 has no CRF"),
        ({"metrics": "psnr,lpips"}, "unknown metric(s) lpips"),
        ({"crfs": "20", "bitrates": "1M"}, "either CRFs or bitrates"),
        ({"scales": "2", "upscalers": ""}, "at least one upscaler"),
        ({"start": -1.0}, "start must be"),
        ({"scales": "1,2.5"}, "whole number"),
    ],
)
def test_bad_settings_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=None) as error:
        make_settings(None, **overrides)
    assert message in str(error.value)


def test_a_config_with_both_crfs_and_bitrates_is_refused(tmp_path):
    config = tmp_path / "both.toml"
    config.write_text('[experiment]\ncrfs = [20, 26]\nbitrates = ["100k", "200k"]\n')
    with pytest.raises(ConfigError, match="either CRFs or bitrates, not both"):
        make_settings(config)


def test_unknown_config_keys_are_refused_with_the_valid_ones(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("[experiment]\nscale = [1, 2]\n")
    with pytest.raises(ConfigError, match="unknown key.*scale.*valid keys:.*scales"):
        load_config(config)
    with pytest.raises(ConfigError, match="config file not found"):
        make_settings(tmp_path / "missing.toml")
    assert ExperimentSettings().validate().metrics == ("psnr", "ssim", "vmaf")


@pytest.mark.parametrize("method", ["pchip", "akima"])
def test_points_that_share_a_rate_keep_the_best_quality_and_never_raise(method):
    # two encodes of one rung can land on the same bitrate; the interpolators need rising rates
    shared = bd([100, 200, 200, 400], [30, 32, 33, 36], [100, 200, 300, 400], [30.5, 33, 34.5, 36.5], method)
    assert shared.bd_rate_pct is None and shared.anchor_points == 3
    assert "3 point(s)" in shared.status and "1 point(s) sharing a rate" in shared.status

    kept = bd([100, 200, 200, 400], [30, 32, 33, 36], [100, 200, 400], [30.5, 33.5, 36.5], method, min_points=3)
    best = bd([100, 200, 400], [30, 33, 36], [100, 200, 400], [30.5, 33.5, 36.5], method, min_points=3)
    assert kept.status == "ok" and kept.bd_rate_pct == pytest.approx(best.bd_rate_pct, abs=1e-12)
    assert kept.bd_metric == pytest.approx(best.bd_metric, abs=1e-12)


def test_overlaps_are_floored_to_a_tenth_of_a_percent():
    from vsr.experiment.bdrate import floored_percent

    assert floored_percent(0.7496) == "74.9%" and floored_percent(0.75) == "75%" and floored_percent(1.0) == "100%"


def test_a_bd_rate_given_where_the_bd_metric_is_not_says_ok_in_its_own_status():
    """The same curve at 4x the rate: the qualities overlap wholly (BD-rate +300 %), the log rates
    by a fifth of their span (no BD-metric). One status read "n/a" beside the BD-rate, so a script keeping the
    "ok" rows dropped a valid figure."""
    rates, qualities = [100, 200, 400, 800], [30.0, 32.0, 34.0, 36.0]
    result = bd(rates, qualities, [4 * r for r in rates], qualities)
    assert result.bd_rate_pct == pytest.approx(300.0) and result.bd_metric is None
    assert result.status == "ok"
    assert result.metric_status == "n/a: the rate ranges overlap by 20% (under 75%)"
