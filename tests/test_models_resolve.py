"""vsr.models.resolve: one rule for nothing, a name, a weight file or a loaded model, at a scale."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsr.errors import InputError, UnsupportedModelError
from vsr.models import (
    SRModel,
    build,
    checkpoint_dict,
    default_model_name,
    default_scale,
    is_weight_file,
    load_model,
    resolve,
    save_checkpoint,
)
from vsr.models.registry import get_arch

TINY_ESPCN = {"features": (4, 4)}


def tiny_weight_file(path: Path, scale: int = 2) -> Path:
    """A small ESPCN checkpoint, as `vsr train` writes them."""
    module = build("espcn", scale, TINY_ESPCN).eval()
    ckpt = checkpoint_dict(module, arch="espcn", hparams={**get_arch("espcn").defaults, **TINY_ESPCN},
                           scale=scale, supports_half=False, config=None)
    return save_checkpoint(path, ckpt)


def test_nothing_resolves_to_the_best_shipped_model():
    assert resolve(None, 4).name == default_model_name(4)


def test_a_name_resolves_to_its_shipped_model():
    model = resolve("espcn", 3)
    assert (model.name, model.scale) == ("espcn", 3)
    bicubic = resolve("bicubic", 2)
    assert (bicubic.name, bicubic.learned) == ("bicubic", False)


@pytest.mark.parametrize("as_text", [True, False])
def test_a_weight_file_resolves_to_that_checkpoint(tmp_path, as_text):
    path = tiny_weight_file(tmp_path / "model.pt")
    model = resolve(str(path) if as_text else path, 2)
    assert (model.name, model.scale, model.frames) == ("espcn", 2, 1)
    x = torch.rand(1, 1, 6, 5)
    reference = build("espcn", 2, TINY_ESPCN).eval()
    reference.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    with torch.inference_mode():
        assert torch.equal(model.module(x), reference(x))


def test_a_weight_file_brings_its_own_scale(tmp_path):
    path = tiny_weight_file(tmp_path / "model.pt", scale=3)
    assert resolve(str(path), None).scale == 3


def test_a_training_run_folder_given_as_the_model_points_at_its_weight_file(tmp_path):
    tiny_weight_file(tmp_path / "espcn_x2" / "model.pt")
    with pytest.raises(UnsupportedModelError, match=r"espcn_x2 is a folder .*give its weight file: .*espcn_x2/model.pt$"):
        resolve(str(tmp_path / "espcn_x2"), 2)


def test_a_weight_file_without_the_pt_suffix_is_found_by_being_a_file(tmp_path):
    path = tiny_weight_file(tmp_path / "weights.bin")
    assert is_weight_file(str(path)) and not is_weight_file("espcn") and not is_weight_file("multiframe")
    assert resolve(str(path), 2).name == "espcn"


def test_a_weight_file_of_another_scale_is_refused(tmp_path):
    path = tiny_weight_file(tmp_path / "model.pt", scale=2)
    with pytest.raises(UnsupportedModelError, match=r"is an x2 model, not x4"):
        resolve(str(path), 4)


def test_a_missing_weight_file_is_named(tmp_path):
    with pytest.raises(InputError, match="checkpoint not found"):
        resolve(str(tmp_path / "missing.pt"), 2)


def test_a_loaded_model_is_checked_against_the_scale():
    model = load_model("bicubic", 2)
    assert resolve(model, 2) is model
    with pytest.raises(UnsupportedModelError, match="is for scale 2, not 3"):
        resolve(model, 3)


def test_an_unsupported_scale_an_unknown_name_and_a_missing_scale_are_named():
    with pytest.raises(UnsupportedModelError, match=r"unsupported scale 5; use one of 2, 3, 4"):
        resolve("espcn", 5)
    with pytest.raises(UnsupportedModelError, match=r"unknown model 'nope'; valid models: bicubic, residual"):
        resolve("nope", 2)
    with pytest.raises(UnsupportedModelError, match="--scale is needed for model 'espcn'"):
        resolve("espcn", None)


def test_upscale_takes_a_weight_file_for_a_still_image(cli, tmp_path):
    path = tiny_weight_file(tmp_path / "model.pt")
    source = tmp_path / "grey.png"
    cv2.imwrite(str(source), np.random.default_rng(0).integers(0, 256, (12, 10), dtype=np.uint8))
    result = cli("upscale", source, "-s", "2", "-m", path, "-o", tmp_path / "big.png", "-q")
    assert result.exit_code == 0, result.stderr
    assert cv2.imread(str(tmp_path / "big.png"), cv2.IMREAD_UNCHANGED).shape == (24, 20)


def test_without_a_scale_a_weight_file_sets_its_own(cli, tmp_path):
    path = tiny_weight_file(tmp_path / "model.pt", scale=3)
    source = tmp_path / "grey.png"
    cv2.imwrite(str(source), np.random.default_rng(0).integers(0, 256, (12, 10), dtype=np.uint8))
    result = cli("upscale", source, "-m", path, "-q")
    assert result.exit_code == 0, result.stderr
    assert cv2.imread(str(tmp_path / "grey_x3.png"), cv2.IMREAD_UNCHANGED).shape == (36, 30)
    assert default_scale("espcn") == default_scale(None) == 4
    with pytest.raises(InputError):
        default_scale(tmp_path / "missing.pt")


def test_a_descriptor_built_by_hand_says_what_its_module_is():
    assert SRModel("mine", 2, build("espcn", 2), False, None).learned
    bicubic = SRModel("mine", 2, build("bicubic", 2), False, None)
    assert (bicubic.frames, bicubic.is_multi_frame, bicubic.learned) == (1, False, False)
    fusion = SRModel("mine", 4, build("multiframe", 4, {"frames": 3, "channels": 8, "blocks": 1}), False, None)
    assert (fusion.frames, fusion.is_multi_frame) == (3, True)


@pytest.mark.parametrize("change", ["scale", "features"])
def test_weights_that_do_not_fit_their_description_are_one_line(cli, tmp_path, change):
    """torch's load_state_dict error came through as many lines, one per tensor."""
    ckpt = torch.load(Path(__file__).parents[1] / "vsr" / "models" / "weights" / "espcn_x2.pt", weights_only=True)
    if change == "scale":
        ckpt["scale"] = 3
    else:
        ckpt["hparams"] = {**ckpt["hparams"], "features": [32, 16]}
    torch.save(ckpt, tmp_path / "changed.pt")
    cv2.imwrite(str(tmp_path / "in.png"), np.full((8, 8, 3), 100, np.uint8))
    result = cli("upscale", tmp_path / "in.png", "-m", tmp_path / "changed.pt", "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsr: error: the weights do not fit the model the file describes (espcn")
    with pytest.raises(UnsupportedModelError, match="tensors missing, unexpected or of another shape"):
        resolve(str(tmp_path / "changed.pt"), ckpt["scale"])


def test_a_training_resume_state_given_as_a_model_says_where_the_model_is(tmp_path):
    torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "iteration": 250, "config": {}}, tmp_path / "last.pt")
    with pytest.raises(InputError, match=r"last.pt is the resume state of `vsr train`, not a model; the trained model is .*model.pt"):
        resolve(str(tmp_path / "last.pt"), 4)


def test_a_weight_file_damaged_in_place_is_refused(tmp_path):
    """torch reads a zip's tensors back unchecked: a damaged file wrote black pictures (NaN weights)
    or slightly different ones, with exit status 0."""
    from vsr.models import load_model_file

    path = tiny_weight_file(tmp_path / "model.pt")
    ckpt = torch.load(path, weights_only=True)
    name = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][name].view(-1)[0] += 0.25  # as bytes changed inside the file would
    torch.save(ckpt, tmp_path / "damaged.pt")
    with pytest.raises(InputError, match=r"damaged\.pt is damaged: its weights are not those it was saved with"):
        load_model_file(tmp_path / "damaged.pt")
    del ckpt["weights_sha256"]  # a file from before the digest: only what cannot be weights is told
    ckpt["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(InputError, match=r"nan\.pt holds weights that are not numbers"):
        load_model_file(tmp_path / "nan.pt")


def test_a_shipped_name_whose_file_holds_another_model_is_refused(tmp_path, monkeypatch):
    """An espcn x2 file shipped as fsrcnn_x2.pt (a `vsr train` ship_to with the wrong name) was
    evaluated as fsrcnn, or crashed mid-run at another scale."""
    import vsr.models.loading as loading

    tiny_weight_file(tmp_path / "fsrcnn_x2.pt")
    monkeypatch.setattr(loading, "weights_path", lambda name, scale: tmp_path / f"{name}_x{scale}.pt")
    with pytest.raises(UnsupportedModelError, match="fsrcnn_x2.pt holds espcn x2, not fsrcnn x2"):
        load_model("fsrcnn", 2)
