"""`--restore`: the preset (restoration model for the scale, deinterlace auto, temporal denoising)
and its refusals."""

from __future__ import annotations

import shutil

import av
import cv2
import numpy as np
import pytest

from vsr.errors import ConfigError, UnsupportedModelError
from vsr.models import load_model, resolve, weights_path
from vsr.models.registry import RESTORATION
from vsr.options import ModelOptions, MultiFrameOptions, UpscaleOptions
from vsr.restore.preset import restore_options

from textures import texture
from tinymodels import write_weight_file


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_the_preset_picks_the_restoration_model_deinterlaces_and_denoises(scale):
    options = restore_options(UpscaleOptions(model=ModelOptions(scale=scale)))
    assert options.model.name == "restore" and options.filters.deinterlace == "auto"
    assert options.filters.denoise == "temporal"
    model = load_model("restore", scale)
    assert model.purpose == RESTORATION and "x264" in model.degradation


def test_the_preset_keeps_the_users_choices():
    chosen = UpscaleOptions(model=ModelOptions(name="restore-fast", scale=4)).replace(filters={"deinterlace": "yadif"})
    options = restore_options(chosen)
    assert options.model.name == "restore-fast" and options.filters.deinterlace == "yadif"
    telecined = restore_options(UpscaleOptions().replace(filters={"ivtc": True}))
    assert telecined.filters.deinterlace == "off" and telecined.filters.ivtc
    assert restore_options(UpscaleOptions(), deinterlace="off").filters.deinterlace == "off"
    assert restore_options(UpscaleOptions().replace(filters={"denoise": "medium"})).filters.denoise == "medium"
    assert restore_options(UpscaleOptions(), denoise="off").filters.denoise == "off"


def test_the_preset_refuses_what_does_not_fit():
    with pytest.raises(ConfigError, match="not 'residual'"):
        restore_options(UpscaleOptions(model=ModelOptions(name="residual")))
    with pytest.raises(ConfigError, match="drop --mode multi"):
        restore_options(UpscaleOptions(multi_frame=MultiFrameOptions(mode="multi")))
    with pytest.raises(UnsupportedModelError, match=r"no shipped weights for restore at scale 3; shipped scales for restore: 1, 2, 4"):
        restore_options(UpscaleOptions(model=ModelOptions(scale=3)))


def test_vsr_upscale_restore(make_clip, cli, tmp_path):
    clip = make_clip("old.mp4", frames=4)
    out = tmp_path / "old_x2.mp4"
    result = cli("upscale", clip, "--restore", "--scale", "2", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    with av.open(str(clip)) as source, av.open(str(out)) as upscaled:
        assert upscaled.streams.video[0].width == 2 * source.streams.video[0].width
        assert upscaled.streams.video[0].frames == source.streams.video[0].frames == 4
    refused = cli("upscale", clip, "--restore", "--model", "espcn", "-o", tmp_path / "x.mp4")
    assert refused.exit_code == 1 and refused.output.count("\n") == 1 and "restoration model" in refused.output
    assert not (tmp_path / "x.mp4").exists()


def test_the_preset_takes_a_restoration_weight_file_and_refuses_another(tmp_path):
    restoring, sharpening = tmp_path / "mine.pt", tmp_path / "theirs.pt"
    shutil.copyfile(weights_path("restore-fast", 4), restoring)
    shutil.copyfile(weights_path("espcn", 4), sharpening)
    assert restore_options(UpscaleOptions(model=ModelOptions(name=str(restoring)))).model.name == str(restoring)
    with pytest.raises(ConfigError, match="restoration model"):
        restore_options(UpscaleOptions(model=ModelOptions(name=str(sharpening))))


def test_vsr_upscale_restore_on_a_still(cli, tmp_path):
    still = tmp_path / "photo.png"
    cv2.imwrite(str(still), texture(40, 56).astype(np.uint8))
    result = cli("upscale", still, "--restore", "--scale", "2", "-q")
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "photo_x2.png")).shape[:2] == (80, 112)


def test_vsr_models_says_what_the_restoration_models_were_trained_for(cli):
    lines = {line.split()[0]: line for line in cli("models").stdout.splitlines()}
    for name, scales in (("restore", "x1 (clean-up, same size), x2, x4"), ("restore-fast", "x4")):
        assert lines[name].split(None, 1)[1].startswith(f"{scales} (restoration, trained for: blur, noise, JPEG and video codecs")
    assert "restoration" not in lines["residual"]



def test_scale_1_cleans_without_upscaling_with_a_clean_up_model(make_clip, cli, tmp_path):
    clip = make_clip("old.mp4", frames=4)
    cleaner = write_weight_file(tmp_path / "clean_x1.pt", scale=1, arch="restore")
    out = tmp_path / "old_clean.mp4"
    result = cli("upscale", clip, "--scale", "1", "--restore", "-m", cleaner, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    with av.open(str(clip)) as source, av.open(str(out)) as cleaned:
        src, dst = source.streams.video[0], cleaned.streams.video[0]
        assert (dst.width, dst.height) == (src.width, src.height) and dst.frames == src.frames == 4
        before = [f.to_ndarray(format="gray") for f in source.decode(video=0)]
        after = [f.to_ndarray(format="gray") for f in cleaned.decode(video=0)]
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(after, before)) > 2  # the model ran


def test_scale_1_without_a_clean_up_model_is_a_one_line_error(make_clip, cli, tmp_path):
    clip = make_clip("old.mp4", frames=4)
    for extra in ([], ["-m", "espcn"]):
        result = cli("upscale", clip, "--scale", "1", *extra, "-o", tmp_path / "x.mp4")
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert ("clean-up model" if not extra else "espcn does not run at scale 1; shipped scales for espcn: 2, 3, 4") in result.output
    assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(UnsupportedModelError, match="scale 1 does not upscale"):
        resolve(None, 1)
    cleaner = write_weight_file(tmp_path / "clean_x1.pt", scale=1, arch="stream")
    refused = cli("eval", "-m", cleaner, "--data", tmp_path)
    assert refused.exit_code == 1 and "clean-up model" in refused.output and refused.output.count("\n") == 1
