"""`vsr experiment` end to end on a tiny synthetic clip: the files, the shape of the answers, the
cache, and the bad inputs (one line, exit 1, nothing left as if complete)."""

from __future__ import annotations

import csv
import json
import logging
import re
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch

import vsr.experiment.ladder as ladder
import vsr.experiment.report as report
import vsr.experiment.run as experiment_run
from tinymodels import panned_lumas, write_weight_file
from videoclips import hiding_first_frames
from vsr.engine.fusion import LearnedFusion
from vsr.errors import ConfigError, InputError, UnsupportedModelError
from vsr.eval.evaluate import upscale_luma
from vsr.eval.video import multi_frame_sequence
from vsr.experiment import make_settings, run_experiment
from vsr.files import TEMP_MARK
from vsr.experiment.upscalers import UpscalerName, make_upscaler, supports_scale, upscaler_identity
from vsr.files import file_sha256
from vsr.experiment.hull import hull_of
from vsr.media.index import read_packet_index
from vsr.media.probe import probe
from vsr.models import resolve, weights_path

CLIP = dict(width=96, height=64, frames=8)
GRID = dict(scales="1,2", crfs="0,20,32,44", metrics="psnr,ssim", preset="veryfast", crop_size=32)


@pytest.fixture
def count_encodes(monkeypatch):
    """Count the encoders the ladder opens."""
    opened = []
    real = ladder.LadderEncoder

    def counting(*args, **kwargs):
        opened.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(ladder, "LadderEncoder", counting)
    return opened


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_tiny_experiment_end_to_end_and_its_rerun_from_the_cache(make_clip, tmp_path, count_encodes):
    clip = make_clip("clip.mp4", **CLIP)
    model = str(write_weight_file(tmp_path / "tiny_x2.pt", scale=2))
    settings = make_settings(upscalers=f"bicubic,{model}", **GRID)
    steps = []
    result = run_experiment(clip, tmp_path / "exp", settings, progress=lambda done, total: steps.append((done, total)))

    folder = tmp_path / "exp"
    for name in ("points.csv", "frames.csv", "hull.csv", "bdrate.csv", "results.json", "summary.md",
                 "rd_psnr.png", "rd_ssim.png", "experiment.json"):
        assert (folder / name).is_file(), name
    assert sorted(p.name for p in (folder / "crops").iterdir()) == [f"x2_crf{c}.png" for c in (0, 20, 32, 44)]
    assert not list(folder.rglob(".*.tmp-*"))
    assert len(count_encodes) == 8 and result.encodes_run == 8 and result.points_run == 4 + 8
    assert steps[-1][0] == steps[-1][1] == 8 * (8 + 12)  # frame-steps: 8 encodes and 12 points of 8 frames

    points = read_rows(folder / "points.csv")
    assert len(points) == 4 + 2 * 4
    assert {p["upscaler"] for p in points} == {"direct", "bicubic", model}
    for scale in ("1", "2"):
        rung = sorted((int(p["rate"]), float(p["kbps"])) for p in points if p["scale"] == scale)
        rates = [kbps for _, kbps in rung]
        assert rates == sorted(rates, reverse=True), f"rate must fall as CRF rises at x{scale}: {rung}"
    lossless = next(p for p in points if p["scale"] == "1" and p["rate"] == "0")
    others = [float(p["psnr_mean"]) for p in points if p is not lossless]
    assert float(lossless["psnr_mean"]) == 60.0  # identical frames: PSNR capped as libvmaf caps it
    assert float(lossless["psnr_mean"]) > max(others) + 10
    assert float(lossless["ssim_mean"]) == pytest.approx(1.0)
    for p in points:
        assert float(p["psnr_min"]) <= float(p["psnr_p1"]) <= float(p["psnr_p5"]) <= float(p["psnr_mean"])

    frames = read_rows(folder / "frames.csv")
    assert len(frames) == 12 * 8
    assert [int(f["frame"]) for f in frames[:8]] == list(range(8))

    bdrate = read_rows(folder / "bdrate.csv")
    assert {(r["test"], r["anchor"]) for r in bdrate} >= {(f"{model} hull", "bicubic hull"), ("bicubic hull", "direct"),
                                                         (f"{model} x2", "bicubic x2")}
    assert {r["method"] for r in bdrate} == {"pchip", "akima"}
    for row in bdrate:
        assert (row["status"] == "ok") == (row["bd_rate_pct"] != "" and row["bd_metric"] != "")

    results = json.loads((folder / "results.json").read_text())
    assert results["source"]["frames"] == 8 and len(results["source"]["sha256"]) == 64
    assert results["models"][model]["x2"]  # the weight file's sha256
    assert {"av", "torch", "libavcodec"} <= set(results["versions"])
    assert "BD-rate PCHIP" in (folder / "summary.md").read_text()

    # the same grid again: nothing is encoded or scored, the outputs are the same
    before = (folder / "points.csv").read_text()
    again = run_experiment(clip, folder, settings)
    assert len(count_encodes) == 8 and again.encodes_run == 0 and again.points_run == 0 and again.points_cached == 12
    assert (folder / "points.csv").read_text() == before

    # one more upscaler: only its points are computed, from the cached encodes
    more = run_experiment(clip, folder, make_settings(upscalers=f"bicubic,{model},lanczos", **GRID))
    assert len(count_encodes) == 8 and more.encodes_run == 0 and more.points_run == 4

    # a CRF fewer, the plot of a metric no longer asked for, and a temporary file a killed report
    # left: the outputs are this run's only
    (folder / f".summary.md{TEMP_MARK}1-ab").write_text("cut short")
    (folder / "rd_vmaf.png").write_bytes((folder / "rd_psnr.png").read_bytes())
    run_experiment(clip, folder, make_settings(upscalers="bicubic", **{**GRID, "crfs": "0,20,32"}))
    assert sorted(p.name for p in (folder / "crops").iterdir()) == [f"x2_crf{c}.png" for c in (0, 20, 32)]
    assert not (folder / "rd_vmaf.png").exists() and (folder / "rd_psnr.png").exists()
    assert not list(folder.glob(f".*{TEMP_MARK}*"))


def test_records_cached_by_an_older_version_of_their_figures_are_made_again(make_clip, tmp_path, monkeypatch, count_encodes):
    clip = make_clip("clip.mp4", **CLIP)
    settings = make_settings(upscalers="bicubic", **{**GRID, "scales": "2"})
    monkeypatch.setattr("vsr.experiment.cache.RECORDS", 1)
    run_experiment(clip, tmp_path / "exp", settings)
    assert len(count_encodes) == 4
    monkeypatch.undo()
    again = run_experiment(clip, tmp_path / "exp", settings)
    assert again.encodes_run == 4 and again.points_run == 4 and again.points_cached == 0


def test_what_the_decoder_warns_of_in_the_source_is_said_once_not_once_a_pass(make_clip, tmp_path, caplog):
    """A source with a repeated timestamp: the survey, every encode pass and every score pass said it again."""
    made = make_clip("made.mkv", **CLIP, options={"bf": "0"})
    source = tmp_path / "repeated.mkv"
    with av.open(str(made)) as inp, av.open(str(source), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        previous = None
        for number, packet in enumerate(p for p in inp.demux(video=0) if p.size):
            if number == 4:
                packet.pts = packet.dts = previous
            previous = packet.pts
            packet.stream = stream
            out.mux(packet)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        run_experiment(source, tmp_path / "exp", make_settings(upscalers="bicubic", **GRID))
    assert sum("does not advance" in m for m in caplog.messages) == 1


def test_an_interrupted_run_resumes_and_leaves_no_half_written_files(make_clip, tmp_path, monkeypatch):
    clip = make_clip("clip.mp4", **CLIP)
    settings = make_settings(upscalers="bicubic", **GRID)
    real = ladder.score_rung
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ladder, "score_rung", failing)
    monkeypatch.setattr("vsr.experiment.run.score_rung", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(clip, tmp_path / "exp", settings)
    folder = tmp_path / "exp"
    assert not (folder / "points.csv").exists() and not (folder / "summary.md").exists()
    assert not list(folder.rglob(".*.tmp-*"))
    resumed = run_experiment(clip, folder, settings)
    # interrupted while scoring x1 at the third CRF: x1's encodes and its first two points were kept
    assert resumed.encodes_cached == 4 and resumed.encodes_run == 4
    assert resumed.points_cached == 2 and resumed.points_run == 6


def test_bad_inputs_are_one_line_errors(make_clip, make_audio_only, tmp_path, cli):
    clip = make_clip("clip.mp4", **CLIP)
    song = make_audio_only("song.m4a")
    fast = ["--crf", "20,30,40,50", "--metrics", "psnr", "--preset", "ultrafast", "-q"]
    cases = [
        ([song, "-o", tmp_path / "a", *fast], "has no video stream"),
        ([make_clip("small.mp4", width=48, height=32, frames=2), "-o", tmp_path / "b", "--scales", "1,4", *fast],
         "scale 4 makes the 48x32 source 12x8, under 16 px"),
        # libx265 aborted the process (heap corruption, exit 134) on frames under 32 rows
        ([make_clip("narrow.mp4", width=96, height=56, frames=2), "-o", tmp_path / "g", "--scales", "1,2",
          "--codec", "libx265", *fast], "scale 2 makes the 96x56 source 48x28, under 32 px (libx265 needs 32)"),
        # SVT-AV1's rate control refuses sides under 64: found after the scale-1 rungs were done
        ([clip, "-o", tmp_path / "i", "--scales", "1,2", "--codec", "libsvtav1", "--bitrates", "50k,100k,200k,400k",
          "--metrics", "psnr", "-q"], "scale 2 makes the 96x64 source 48x32, under 64 px (libsvtav1 with --bitrates needs 64)"),
        ([clip, "-o", tmp_path / "c", "--codec", "libnope", *fast], "unknown video encoder 'libnope'"),
        ([clip, "-o", tmp_path / "h", "--codec", "ffv1", "--bitrates", "100k,200k,300k,400k", "--metrics", "psnr", "-q"],
         "ffv1 is a lossless encoder: it has no rate to vary"),  # it ran, every rate the same file
        ([clip, "-o", tmp_path / "d", "--upscalers", "bicubic,nope", *fast], "unknown upscaler 'nope'"),
        ([clip, "-o", tmp_path / "e", "--scales", "1,7", *fast], "scales must be some of 1, 2, 3, 4"),
        ([clip, "-o", tmp_path / "f", "--upscalers", "bicubic+ensemble", *fast],
         "bicubic is the same in every orientation"),
        ([clip, "-o", clip, *fast], "is a file; the experiment needs a folder there"),
    ]
    for args, message in cases:
        result = cli("experiment", *args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vsr: error: ") and message in lines[0], result.stderr
    assert not any((tmp_path / name).exists() for name in "abcdefgh")


def test_a_folder_with_other_settings_is_refused_unless_overwrite(make_clip, tmp_path, cli, caplog, monkeypatch):
    clip = make_clip("clip.mp4", **CLIP)
    folder = tmp_path / "exp"
    base = ["experiment", clip, "-o", folder, "--scales", "1,2", "--upscalers", "bicubic", "--metrics", "psnr", "-q"]
    with caplog.at_level(logging.WARNING, logger="vsr"):
        first = run_experiment(clip, folder, make_settings(scales="1,2", crfs="20,30,40", upscalers="bicubic",
                                                           metrics="psnr", preset="ultrafast"))
    assert "BD-rate needs at least 4" in caplog.text
    assert [r.getMessage() for r in caplog.records] == [r.getMessage() for r in caplog.records if "BD-rate" in r.getMessage()]  # no other warning (the rungs' frames were once taken for gaps)
    bdrate = read_rows(folder / "bdrate.csv")
    assert bdrate and all(r["bd_rate_pct"] == "" and r["status"].startswith("n/a") for r in bdrate)
    assert first.points_run == 6

    refused = cli(*base, "--crf", "20,30,40", "--preset", "veryslow")
    assert refused.exit_code == 1
    assert "holds an experiment with other settings (preset 'ultrafast', now 'veryslow')" in refused.stderr
    assert "--overwrite" in refused.stderr and (folder / "points.csv").is_file()

    before = {name: (folder / name).read_bytes() for name in ("points.csv", "bdrate.csv", "summary.md")}

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:  # an overwrite stopped before its report: the results stay
        patched.setattr(experiment_run, "encode_rungs", stop)
        with pytest.raises(KeyboardInterrupt):
            run_experiment(clip, folder, make_settings(scales="1,2", crfs="20,30,40", upscalers="bicubic",
                                                       metrics="psnr", preset="faster"), overwrite=True)
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert not (folder / "results.json").exists()  # the folder now says other settings: not a complete report

    replaced = cli(*base, "--crf", "20,30,40", "--preset", "veryfast", "--overwrite")
    assert replaced.exit_code == 0, replaced.stderr
    assert json.loads((folder / "results.json").read_text())["settings"]["preset"] == "veryfast"
    assert json.loads((folder / "experiment.json").read_text())["identity"]["preset"] == "veryfast"

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    foreign = cli("experiment", clip, "-o", tmp_path / "other", "--crf", "20,30,40,50", "--metrics", "psnr", "-q")
    assert foreign.exit_code == 1 and "is not empty and holds no experiment" in foreign.stderr
    with pytest.raises(ConfigError):
        make_settings(crfs="20,30", bitrates="1M,2M")


def test_a_rerun_with_another_crop_size_cuts_every_tile_anew(make_clip, tmp_path, monkeypatch):
    clip = make_clip("clip.mp4", **CLIP)
    folder = tmp_path / "exp"
    grid = dict(scales="1,2", crfs="20,40", metrics="psnr", preset="ultrafast", upscalers="bicubic,lanczos")
    shown = []
    real = report.side_by_side
    monkeypatch.setattr(report, "side_by_side", lambda tiles: shown.append(tiles) or real(tiles))

    run_experiment(clip, folder, make_settings(crop_size=32, **grid))
    assert len(shown) == 2 and all(t.shape == (32, 32) for tiles in shown for _, t in tiles)
    shown.clear()
    again = run_experiment(clip, folder, make_settings(crop_size=16, **grid))
    assert again.encodes_run == 0 and again.points_run == 0  # the crop box is not part of a point
    assert len(shown) == 2
    for tiles in shown:  # the source, the nearest direct encode, bicubic, lanczos: one region, one size
        assert [label.split()[0] for label, _ in tiles] == ["source", "direct", "bicubic", "lanczos"]
        assert all(t.shape == (16, 16) for _, t in tiles), [(label, t.shape) for label, t in tiles]


def test_start_counts_from_the_first_frame_not_from_pts_0(make_clip, tmp_path):
    # an MPEG-TS copy of the clip: its first frame is at pts 7200 (1/90000 s), B-frame delay and all
    mp4 = make_clip("clip.mp4", width=96, height=64, frames=50)
    ts = tmp_path / "clip.ts"
    with av.open(str(mp4)) as source, av.open(str(ts), "w", format="mpegts") as out:
        video = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
    info = probe(ts)
    first = min(read_packet_index(ts).pts)
    assert first > 0 and info.time_base == Fraction(1, 90000)

    whole = ladder.survey(info, 0.0, None, 0)
    late = ladder.survey(info, 1.0, None, 0)
    assert whole.frames == 50 and late.frames == 25  # 25 fps: one second in is frame 25, of the clip's 50
    assert late.start_pts == first + 90000
    assert next(late.items()).pts == first + 90000


def test_start_counts_from_the_first_frame_shown_not_from_frames_an_edit_list_hides(make_clip, tmp_path):
    """A cut made with ffmpeg -ss -c copy: --start counted from the hidden frames, and scored others."""
    cut = hiding_first_frames(make_clip("clip.mp4", width=96, height=64, frames=50), tmp_path / "cut.mp4", hidden=3)
    info = probe(cut)
    late = ladder.survey(info, 1.0, None, 0)
    assert late.frames == 22  # 25 fps: one second after the first frame shown, of the 47 shown
    assert next(late.items()).pts == round(1 / info.time_base)


@pytest.mark.parametrize("start", [2.5, 1e15, 1e308])
def test_a_start_past_the_last_frame_is_one_line(make_clip, start):
    """A huge --start was a raw OverflowError ("Python int too large to convert to C long")."""
    info = probe(make_clip("clip.mp4", width=96, height=64, frames=50))
    with pytest.raises(InputError, match=re.escape(f"no video frame from {start:g} s on: its last starts 1.96 s after")):
        ladder.survey(info, start, None, 0)


@pytest.mark.parametrize("codec", ["libx264", "libsvtav1"])
def test_a_rungs_bytes_are_those_its_file_stores(make_clip, tmp_path, codec):
    """The encoder's packets were counted: AV1's temporal delimiters, which the MP4 muxer drops,
    added 2 bytes a frame (9924 counted, 9904 stored)."""
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec}")
    info = probe(make_clip("clip.mp4", width=96, height=64, frames=8))
    source = ladder.survey(info, 0.0, None, 0)
    path = tmp_path / f"rung_{codec}.mp4"
    with ladder.LadderEncoder(path, info, codec, ladder.encode_options(codec, "ultrafast", "crf", 30), ladder.LAYOUT,
                              96, 64) as encoder:
        for item in source.items():
            encoder.write_planes(item.planes, item)
    with av.open(str(path)) as written:
        stored = sum(packet.size for packet in written.demux(written.streams.video[0]))
    assert encoder.video_bytes == stored > 0


def test_a_clean_up_model_cleans_the_scale_1_encodes_and_its_hull_picks_per_rung(make_clip, tmp_path):
    clip = make_clip("clip.mp4", **CLIP)
    clean_up = str(write_weight_file(tmp_path / "tiny_x1.pt", scale=1, arch="stream"))
    settings = make_settings(upscalers=f"bicubic,{clean_up}", **GRID)
    result = run_experiment(clip, tmp_path / "exp", settings)
    folder = tmp_path / "exp"

    points = read_rows(folder / "points.csv")
    assert result.points_run == 4 + 4 + 4  # direct, bicubic x2, the clean-up model at x1
    assert {p["scale"] for p in points if p["upscaler"] == clean_up} == {"1"}
    direct = {p["rate"]: float(p["psnr_mean"]) for p in points if p["upscaler"] == "direct"}
    cleaned = {p["rate"]: float(p["psnr_mean"]) for p in points if p["upscaler"] == clean_up}
    assert direct.keys() == cleaned.keys() and direct != cleaned  # the model ran on the decoded frames

    # its hull picks from the direct and the cleaned points, rung by rung
    candidates = [p for p in points if p["upscaler"] in ("direct", clean_up)]
    expected = hull_of(candidates, [float(p["kbps"]) for p in candidates], [float(p["psnr_mean"]) for p in candidates])
    hull = [h for h in read_rows(folder / "hull.csv") if h["upscaler"] == clean_up and h["metric"] == "psnr"]
    assert [(h["point_of"], h["rate"]) for h in hull] == [(p["upscaler"], p["rate"]) for p in expected]
    bdrate = read_rows(folder / "bdrate.csv")
    assert {(r["test"], r["anchor"]) for r in bdrate} >= {(f"{clean_up} x1", "direct"), (f"{clean_up} hull", "bicubic hull")}
    assert json.loads((folder / "results.json").read_text())["models"][clean_up]["x1"]


def test_a_model_named_with_ensemble_runs_self_ensembled_as_its_own_upscaler(make_clip, tmp_path):
    clip = make_clip("clip.mp4", **CLIP)
    model = str(write_weight_file(tmp_path / "tiny_x2.pt", scale=2))
    settings = make_settings(upscalers=f"{model},{model}+ensemble", **{**GRID, "crfs": "0,44"})
    result = run_experiment(clip, tmp_path / "exp", settings)
    assert result.points_run == 2 + 2 + 2  # direct, the model, the model ensembled

    points = read_rows(tmp_path / "exp" / "points.csv")
    plain = {p["rate"]: float(p["psnr_mean"]) for p in points if p["upscaler"] == model}
    ensembled = {p["rate"]: float(p["psnr_mean"]) for p in points if p["upscaler"] == f"{model}+ensemble"}
    assert plain.keys() == ensembled.keys() == {"0", "44"} and plain != ensembled  # a lopsided random net
    identities = {p["upscaler"]: p["upscaler_identity"] for p in json.loads((tmp_path / "exp" / "results.json").read_text())["points"]
                  if p["upscaler"] != "direct"}
    assert identities[f"{model}+ensemble"] == {**identities[model], "ensemble": "8 orientations"}


def test_a_multi_frame_upscaler_gives_the_multi_frame_mode_whatever_the_chunks_and_starts_anew(tmp_path):
    lows = panned_lumas(7, 24, 32)
    learned_file = str(write_weight_file(tmp_path / "multi_x2.pt", arch="multiframe", frames=3))
    bicubic = resolve("bicubic", 2)
    expected = {
        "bicubic+multi": multi_frame_sequence(bicubic, lows, [upscale_luma(bicubic, y) for y in lows], frames=5),
        learned_file: multi_frame_sequence(bicubic, lows, None, frames=3,
                                           fusion=LearnedFusion(resolve(learned_file, 2), "cpu", "fp32")),
    }
    for name, want in expected.items():
        upscaler = make_upscaler(name, 2, 32, 24, device="cpu", precision="fp32")
        assert upscaler.radius == (2 if name == "bicubic+multi" else 1)
        for _ in range(2):  # the second stream starts anew after flush
            got = upscaler.feed(lows[:2]) + upscaler.feed(lows[2:3]) + upscaler.feed(lows[3:]) + upscaler.flush()
            assert len(got) == len(lows) and all(g.dtype == np.uint8 for g in got)
            assert all(np.array_equal(g, w) for g, w in zip(got, want)), name


def test_multi_frame_upscalers_in_an_experiment_score_every_frame_and_cut_the_same_tiles(make_clip, tmp_path):
    clip = make_clip("clip.mp4", **CLIP)
    learned_file = str(write_weight_file(tmp_path / "multi_x2.pt", arch="multiframe", frames=3))
    grid = dict(scales="1,2", crfs="20,40", metrics="psnr", preset="ultrafast",
                upscalers=f"bicubic,bicubic+multi,{learned_file}")
    first = run_experiment(clip, tmp_path / "a", make_settings(crop_size=32, **grid))
    assert first.points_run == 2 + 2 * 3

    frames = read_rows(tmp_path / "a" / "frames.csv")
    for name in ("bicubic+multi", learned_file):
        rows = [r for r in frames if r["upscaler"] == name and r["rate"] == "20"]
        assert [int(r["frame"]) for r in rows] == list(range(CLIP["frames"])), name
    points = {(p["upscaler"], p["rate"]): float(p["psnr_mean"]) for p in read_rows(tmp_path / "a" / "points.csv")}
    assert points[("bicubic+multi", "20")] != points[("bicubic", "20")]
    identities = {p["upscaler"]: p["upscaler_identity"]
                  for p in json.loads((tmp_path / "a" / "results.json").read_text())["points"]}
    assert identities["bicubic+multi"] == {"kind": "opencv-bicubic", "multi_frame": "classical fusion of 5 frames"}
    assert identities[learned_file]["multi_frame"] == "learned fusion of 3 frames"

    # tiles cut from a rerun with another crop size are those a fresh run scores
    again = run_experiment(clip, tmp_path / "a", make_settings(crop_size=16, **grid))
    assert again.points_run == 0
    run_experiment(clip, tmp_path / "b", make_settings(crop_size=16, **grid))
    for name in ("x2_crf20.png", "x2_crf40.png"):
        a, b = (cv2.imread(str(tmp_path / d / "crops" / name)) for d in "ab")
        assert a is not None and np.array_equal(a, b), name


def test_flags_that_do_not_fit_the_model_are_refused(tmp_path):
    learned_file = str(write_weight_file(tmp_path / "multi_x2.pt", arch="multiframe", frames=3))
    with pytest.raises(UnsupportedModelError, match="is a multi-frame model already"):
        supports_scale(f"{learned_file}+multi", 2)
    with pytest.raises(UnsupportedModelError, match="lanczos is the same in every orientation"):
        supports_scale("lanczos+multi+ensemble", 2)
    assert supports_scale("lanczos+multi", 2) and not supports_scale("stream+multi", 1) and supports_scale("stream", 1)
    assert UpscalerName.parse("runs/a+b/model.pt+ensemble+multi") == UpscalerName("runs/a+b/model.pt", True, True)


def test_a_refine_models_identity_names_the_single_frame_model_it_runs():
    identity = upscaler_identity("multiframe_refine", 4)
    assert identity["multi_frame"] == "learned fusion of 5 frames"
    assert identity["single_weights_sha256"] == file_sha256(weights_path("residual", 4))


def test_a_bad_preset_is_refused_before_the_folder_is_made(make_clip, tmp_path):
    clip = make_clip("clip.mp4", **CLIP)
    with pytest.raises(ConfigError, match="preset 'veryfst'"):
        run_experiment(clip, tmp_path / "exp", make_settings(upscalers="bicubic", **{**GRID, "preset": "veryfst"}))
    assert not (tmp_path / "exp").exists()  # so the corrected command is not refused as "other settings"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_or_precision_this_machine_lacks_is_refused_before_the_folder_is_touched(make_clip, tmp_path, count_encodes):
    """Both came after the folder was made (bicubic on CUDA: after every rung was encoded; with
    --overwrite, after the old experiment's cache was deleted), and a folder so left refused the
    corrected command as "other settings"."""
    clip = make_clip("clip.mp4", **CLIP)
    run_experiment(clip, tmp_path / "exp", make_settings(upscalers="bicubic", **GRID))
    before = sorted((tmp_path / "exp").rglob("*"))
    count_encodes.clear()
    with pytest.raises(ConfigError, match="no CUDA device"):
        run_experiment(clip, tmp_path / "exp", make_settings(upscalers="bicubic", **{**GRID, "preset": "fast", "device": "cuda"}),
                       overwrite=True)
    assert sorted((tmp_path / "exp").rglob("*")) == before and not count_encodes
    with pytest.raises(ConfigError, match="fp16 is not a fast path on the CPU"):
        run_experiment(clip, tmp_path / "new", make_settings(upscalers="bicubic,residual", **{**GRID, "precision": "fp16"}))
    assert not (tmp_path / "new").exists()


def test_a_scale_no_upscaler_has_is_neither_encoded_nor_scored(make_clip, tmp_path, count_encodes, caplog):
    """An x1 clean-up model and no x3 model: the x3 rungs are left out (it was a KeyError after encoding them)."""
    clip = make_clip("clip.mp4", **CLIP)
    clean_up = str(write_weight_file(tmp_path / "tiny_x1.pt", scale=1, arch="stream"))
    caplog.set_level(logging.WARNING, logger="vsr")
    result = run_experiment(clip, tmp_path / "exp", make_settings(upscalers=clean_up, **{**GRID, "scales": "1,3"}))
    assert result.points_run == 4 + 4  # direct and the clean-up model, at x1
    assert {p["scale"] for p in read_rows(tmp_path / "exp" / "points.csv")} == {"1"}
    assert len(count_encodes) == 4


def test_an_anchor_that_is_not_among_the_upscalers_is_said(make_clip, tmp_path, caplog):
    clip = make_clip("clip.mp4", **CLIP)
    caplog.set_level(logging.WARNING, logger="vsr")
    run_experiment(clip, tmp_path / "exp", make_settings(upscalers="lanczos", **GRID))
    assert "the anchor bicubic is not among the upscalers (lanczos)" in caplog.text


def test_an_anchor_asked_for_that_is_not_run_is_refused_before_any_work(make_clip, tmp_path):
    """A misspelt --anchor ran the whole grid with no comparison against it."""
    clip = make_clip("clip.mp4", **CLIP)
    with pytest.raises(ConfigError, match=r"^the anchor bicubc is not among the upscalers \(bicubic, lanczos\)"):
        run_experiment(clip, tmp_path / "exp", make_settings(upscalers="bicubic,lanczos", anchor="bicubc", **GRID))
    assert not (tmp_path / "exp").exists()
    run_experiment(clip, tmp_path / "spaced", make_settings(upscalers="bicubic,lanczos", anchor=" lanczos", **GRID))


def test_the_direct_encodes_alone_are_said_to_compare_nothing(make_clip, tmp_path, caplog):
    clip = make_clip("clip.mp4", **CLIP)
    caplog.set_level(logging.WARNING, logger="vsr")
    run_experiment(clip, tmp_path / "exp", make_settings(upscalers="bicubic", **{**GRID, "scales": "1"}))
    assert "--scales 1 alone measures the direct encodes only" in caplog.text


def test_a_report_cut_short_leaves_no_results_json(make_clip, tmp_path, monkeypatch):
    """results.json is the report's last file: an earlier run's copy must not vouch for a half-new report."""
    clip = make_clip("clip.mp4", **CLIP)
    folder = tmp_path / "exp"
    run_experiment(clip, folder, make_settings(upscalers="bicubic", **GRID))
    assert (folder / "results.json").exists()

    def cut_short(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "summary_markdown", cut_short)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(clip, folder, make_settings(upscalers="bicubic,lanczos", **GRID))
    assert "lanczos" in (folder / "points.csv").read_text() and not (folder / "results.json").exists()


def test_the_duration_of_a_variable_rate_mkv_follows_its_timestamps(make_clip):
    """Frames 30, 50, 80 ... ms apart in Matroska (1 ms ticks): the rate's denominator is their span
    and one mean interval, not the frames' nominal durations."""
    durations = [30, 50, 80, 30, 50, 80, 30, 50]
    clip = make_clip("vfr.mkv", width=96, height=64, frames=8, time_base=Fraction(1, 1000), durations=durations)
    source = ladder.survey(probe(clip), 0.0, None, 0)
    span = sum(durations[:-1]) / 1000
    assert source.frames == 8 and source.duration == pytest.approx(span * 8 / 7, abs=1e-3)


def test_crop_labels_wrap_to_their_tile_and_are_never_cut_silently():
    from vsr.experiment.crops import FONT, FONT_SCALE, side_by_side, wrap_label

    def width(text: str) -> int:
        return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0]

    label = "runs/restore_x4_codec/model.pt+ensemble x4 123k"
    lines = wrap_label(label, 120)
    assert len(lines) > 1 and all(width(line) <= 120 for line in lines)
    assert "".join(lines).replace(" ", "") == label.replace(" ", "")  # every character shown
    assert wrap_label("bicubic x2 80k", 188) == ["bicubic x2 80k"]
    long = wrap_label("x" * 200, 100)
    assert len(long) == 3 and long[-1].endswith("..") and all(width(line) <= 100 for line in long)

    tile = np.zeros((48, 48), np.uint8)
    one_line = side_by_side([("source", tile), ("bicubic x2 80k", tile)])
    wrapped = side_by_side([("source", tile), (label, tile)])
    assert wrapped.shape[0] > one_line.shape[0] and wrapped.shape[1] == one_line.shape[1]
    assert (wrapped[-192:] == one_line[-192:]).all()  # the tiles themselves are the same


def test_a_source_that_starts_before_zero_is_scored_on_every_frame(tmp_path):
    """A wrapped MPEG-TS clock: the rung's MP4 edit list hid the frames before 0 and the scoring
    found half of them missing."""
    from test_pipeline import wrapped_ts

    source = tmp_path / "wrapped.ts"
    wrapped_ts(source, frames=8, before_zero=4)
    run_experiment(source, tmp_path / "exp", make_settings(upscalers="bicubic", scales="1,2", crfs="20,30,40,50",
                                                           metrics="psnr", preset="ultrafast", crop_size=16))
    rows = read_rows(tmp_path / "exp" / "frames.csv")
    assert len(rows) == 8 * 4 * 2 and {int(r["frame"]) for r in rows} == set(range(8))


def test_the_duration_of_a_variable_frame_rate_range_runs_to_the_next_frame(make_clip):
    """Frames at 0, 40, 80 ms then 200 ms: the 3 frames from 0 last 200 ms (the rate's duration),
    not 120 ms (the span plus one mean interval: every kbps 66 % too high)."""
    clip = make_clip("vfr.mkv", frames=6, time_base=Fraction(1, 1000), durations=[40, 40, 120, 40, 40, 40])
    info = probe(clip)
    assert ladder.survey(info, 0.0, 3, 0).duration == pytest.approx(0.2)
    assert ladder.survey(info, 0.0, None, 0).frames == 6  # to the end: the span and one mean interval


def test_frames_asked_past_the_end_measure_what_no_frames_does_and_hit_its_cache(make_clip, tmp_path):
    """A folder made without --frames refused --frames 100 on an 8-frame clip ("frames None, now 100")."""
    clip = make_clip("clip.mp4", **CLIP)
    settings = dict(scales="1,2", crfs="20,30,40,50", upscalers="bicubic", metrics="psnr", preset="ultrafast", crop_size=0)
    first = run_experiment(clip, tmp_path / "exp", make_settings(**settings))
    again = run_experiment(clip, tmp_path / "exp", make_settings(frames=100, **settings))
    assert first.points_run == 8 and (again.points_run, again.encodes_run) == (0, 0)
    # so does --frames 8, exactly the clip; and a folder made before keeps its "frames": null
    assert json.loads((tmp_path / "exp" / "experiment.json").read_text())["identity"]["frames"] is None
    assert run_experiment(clip, tmp_path / "exp", make_settings(frames=8, **settings)).points_run == 0
