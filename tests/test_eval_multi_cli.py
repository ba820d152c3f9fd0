"""`vsr eval --mode multi`: bicubic, single-frame and multi-frame side by side on a folder of sequences."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tinymodels import write_weight_file
from vsr.cli import app


def write_sequence(folder: Path, frames: int = 5) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (160, 160), interpolation=cv2.INTER_CUBIC)
    for i in range(frames):
        cv2.imwrite(str(folder / f"hr_{i + 1:02d}.png"), np.roll(texture, i, axis=1)[:96, :128])


def _learned_rows(scale: int) -> list[str]:
    """The 'learned' row appears where a multi-frame model ships at the scale."""
    from vsr.models import weights_path
    from vsr.models.registry import MULTI_FRAME_ARCHS

    return ["learned"] if any(weights_path(n, scale).is_file() for n in MULTI_FRAME_ARCHS) else []


def test_eval_multi_prints_every_method_and_writes_json(tmp_path: Path) -> None:
    write_sequence(tmp_path / "data" / "pan")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["eval", "--mode", "multi", "--data", str(tmp_path / "data"), "--model", "bicubic", "-q", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("mean")]
    assert [row[1] for row in rows] == ["bicubic", "single", "multi", *_learned_rows(4)]
    single, multi = float(rows[1][2]), float(rows[2][2])
    assert multi > single  # a pan gives the neighbours new sub-pixel samples
    assert set(json.loads(out.read_text())["mean"]) == {row[1] for row in rows}


def test_a_weight_file_brings_its_own_scale_in_both_modes(tmp_path: Path) -> None:
    """--mode multi took x4 for a x2 file: "is an x2 model, not x4"; single mode took it, as upscale does."""
    from tinymodels import write_weight_file

    write_sequence(tmp_path / "data" / "pan", frames=3)
    weights = str(write_weight_file(tmp_path / "tiny_x2.pt", scale=2))
    for mode in ("multi", "single"):
        data = tmp_path / "data" / ("" if mode == "multi" else "pan")
        result = CliRunner().invoke(app, ["eval", "--mode", mode, "--data", str(data), "--model", weights, "-q"])
        assert result.exit_code == 0, result.output
        assert ("(border 2)" if mode == "multi" else " x2 ") in result.output  # the scale's border


def test_eval_single_mode_needs_a_model(tmp_path: Path) -> None:
    write_sequence(tmp_path / "data" / "pan", frames=1)
    result = CliRunner().invoke(app, ["eval", "--data", str(tmp_path / "data" / "pan")])
    assert result.exit_code == 1
    assert "--model is required" in result.output


def test_eval_multi_bad_input_is_one_line(tmp_path: Path) -> None:
    write_sequence(tmp_path / "data" / "pan")
    data = ["eval", "--mode", "multi", "--data", str(tmp_path / "data"), "--model", "bicubic", "-q"]
    result = CliRunner().invoke(app, [*data, "--frames", "4"])
    assert result.exit_code == 1 and "frames must be an odd number" in result.output
    assert "ValueError" not in result.output
    cv2.imwrite(str(tmp_path / "data" / "pan" / "hr_06.png"), np.zeros((90, 120, 3), np.uint8))
    result = CliRunner().invoke(app, data)
    assert result.exit_code == 1 and "hr_06.png is not the size of hr_01.png" in result.output
    assert "ValueError" not in result.output


def _eval(*args: str):
    return CliRunner().invoke(app, ["eval", *args, "-q"])


def test_options_of_the_other_mode_and_models_it_cannot_evaluate_are_one_line(tmp_path: Path) -> None:
    write_sequence(tmp_path / "data" / "pan")
    data = str(tmp_path / "data")
    (tmp_path / "a_folder").mkdir()
    cases = [
        (["--mode", "multi", "-d", data, "-m", "bicubic", "--border", "4"], "--border does not apply to --mode multi"),
        (["--mode", "multi", "-d", data, "--fps"], "--fps does not apply to --mode multi"),
        # timed as fp32 and said as fp16, after the whole evaluation
        (["-d", data + "/pan", "-m", "espcn", "-s", "2", "--fps", "--precision", "fp16"], "runs in fp32 or bf16, not 'fp16'"),
        (["-d", data + "/pan", "-m", "bicubic", "-s", "2", "--frames", "3", "--fusion-model", "x"],
         "--frames and --fusion-model do not apply to --mode single"),
        (["-d", data + "/pan", "-m", "multiframe_refine", "-s", "4"],
         "multiframe_refine is a multi-frame model, not the single-frame one -m names: evaluate it with --mode multi "
         "--fusion-model multiframe_refine"),
        # --mode multi given already, and the user's own path kept (it said the shipped model's name)
        (["--mode", "multi", "-d", data, "-m", str(tmp_path / "my_refine_x4.pt")],
         f"evaluate it with --fusion-model {tmp_path / 'my_refine_x4.pt'}"),
        (["--mode", "multi", "-d", data, "-m", "stream", "-s", "1"], "stream x1 is a clean-up model"),
        (["--mode", "multi", "-d", data, "-m", "bicubic", "--frames", "0"], "got 0"),
        (["-d", data + "/pan", "-m", "bicubic", "-s", "2", "--json", str(tmp_path / "a_folder")], "is a folder; give a file name"),
        # an image of the data set was replaced by the JSON, exit 0
        (["-d", data + "/pan", "-m", "bicubic", "-s", "2", "--json", data + "/pan/hr_01.png", "--overwrite"],
         f"--json {data}/pan/hr_01.png is inside the data folder {data}/pan; write the results elsewhere"),
        (["-d", data + "/pan", "-m", "bicubic", "-s", "2", "--json", str(tmp_path / "earlier.json")],
         f"--json {tmp_path}/earlier.json exists; pass --overwrite to replace it"),
    ]
    (tmp_path / "earlier.json").write_text("{}")
    write_weight_file(tmp_path / "my_refine_x4.pt", scale=4, arch="multiframe", frames=3)
    first_image = (tmp_path / "data" / "pan" / "hr_01.png").read_bytes()
    for args, message in cases:
        result = _eval(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert (tmp_path / "earlier.json").read_text() == "{}"
    assert (tmp_path / "data" / "pan" / "hr_01.png").read_bytes() == first_image
    result = _eval("-d", data + "/pan", "-m", "bicubic", "-s", "2", "--json", str(tmp_path / "earlier.json"), "--overwrite")
    assert result.exit_code == 0 and json.loads((tmp_path / "earlier.json").read_text())["model"] == "bicubic"


def test_a_one_frame_sequence_has_no_flicker_figure_rather_than_nan(tmp_path: Path) -> None:
    write_sequence(tmp_path / "data" / "still", frames=1)
    write_sequence(tmp_path / "data" / "pan", frames=3)
    result = _eval("--mode", "multi", "-d", str(tmp_path / "data"), "-m", "bicubic", "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output
    lines = result.output.splitlines()
    assert any(line.startswith("still") and " – " in line for line in lines)
    assert not any(line.startswith("mean") and " – " in line for line in lines)  # the mean of the sequences that have one
    report = json.loads((tmp_path / "r.json").read_text(), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert report["mean"]["single"]["tmae"] == report["sequences"][0]["scores"]["single"]["tmae"] > 0
    assert report["sequences"][1]["scores"]["single"]["tmae"] is None


def test_the_json_of_a_perfect_score_is_json(tmp_path: Path) -> None:
    """A flat image upscales exactly: PSNR inf, written as Infinity, which strict JSON parsers refuse."""
    (tmp_path / "data").mkdir()
    cv2.imwrite(str(tmp_path / "data" / "flat.png"), np.full((48, 64), 128, np.uint8))
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "-d", str(tmp_path / "data"), "-m", "bicubic", "-s", "2", "-q", "--json", str(out)])
    assert result.exit_code == 0, result.output

    def refuse(name: str) -> float:
        raise ValueError(f"not JSON: {name}")

    report = json.loads(out.read_text(), parse_constant=refuse)
    assert "inf" in json.dumps(report)


def test_the_json_tells_a_trained_file_from_the_shipped_model_of_its_architecture(tmp_path: Path) -> None:
    """Both said "model": "residual", with nothing to tell which weights the figures are of."""
    (tmp_path / "data").mkdir()
    cv2.imwrite(str(tmp_path / "data" / "a.png"), (np.indices((48, 64)).sum(axis=0) % 256).astype(np.uint8))
    weights = write_weight_file(tmp_path / "mine.pt", scale=2)
    reports = {}
    for name, given in (("file", str(weights)), ("shipped", "residual"), ("bicubic", "bicubic")):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(app, ["eval", "-d", str(tmp_path / "data"), "-m", given, "-s", "2", "-q", "--json", str(out)])
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(out.read_text())["extra"]
    assert reports["file"]["model_file"] == str(weights.resolve()) and reports["shipped"]["model_file"] is None
    assert len(reports["file"]["weights_sha256"]) == 64 and reports["bicubic"]["weights_sha256"] == ""
    assert reports["file"]["weights_sha256"] != reports["shipped"]["weights_sha256"]
