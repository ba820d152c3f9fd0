"""vsr.eval.protocol: the benchmark protocol that turns HR images into LR/HR luma pairs."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from vsr.errors import InputError
from vsr.eval.metrics import rgb_to_y
from vsr.eval.protocol import degrade_rgb, image_files, list_images, load_pairs, mod_crop, read_rgb, y_pair
from vsr.resample.matlab import imresize, to_uint8


def _rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_y_pair_and_missing_data_errors(tmp_path):
    hr = np.zeros((50, 37, 3), np.uint8)
    lr, hr_y = y_pair(hr, 4)
    assert lr.shape == (12, 9) and hr_y.shape == (48, 36)
    assert hr_y.max() == 16  # black is luma level 16
    with pytest.raises(InputError, match="folder not found"):
        list_images(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        list_images(tmp_path / "empty")


def test_mod_crop_cuts_the_bottom_and_right_to_a_multiple_of_the_scale():
    img = _rgb(50, 37)
    cropped = mod_crop(img, 4)
    assert cropped.shape == (48, 36, 3)
    np.testing.assert_array_equal(cropped, img[:48, :36])
    assert mod_crop(img[:48, :36], 4).shape == (48, 36, 3)


def test_degrade_rgb_is_the_rounded_matlab_downscale_and_refuses_uncropped_images():
    hr = _rgb(24, 36, seed=1)
    lr = degrade_rgb(hr, 3)
    assert lr.shape == (8, 12, 3) and lr.dtype == np.uint8
    np.testing.assert_array_equal(lr, to_uint8(imresize(hr, 1 / 3)))
    with pytest.raises(ValueError, match="not a multiple of scale 3"):
        degrade_rgb(hr[:23], 3)


def test_y_pair_downscales_the_luma_of_the_cropped_image():
    hr = _rgb(26, 39, seed=2)
    lr_y, hr_y = y_pair(hr, 2)
    np.testing.assert_array_equal(hr_y, to_uint8(rgb_to_y(hr[:26, :38])))
    # downscaling the luma equals the luma of the downscaled RGB, up to rounding
    assert np.abs(lr_y.astype(int) - rgb_to_y(degrade_rgb(hr[:26, :38], 2)).astype(int)).max() <= 2


def test_images_are_listed_by_name_with_any_case_suffix_and_read_as_rgb(tmp_path):
    colour = _rgb(6, 8, seed=3)
    cv2.imwrite(str(tmp_path / "b.PNG"), colour[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in image_files(tmp_path)] == ["a.png", "b.PNG"]
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.PNG"]
    np.testing.assert_array_equal(read_rgb(tmp_path / "b.PNG"), colour)
    gray = read_rgb(tmp_path / "a.png")
    assert gray.shape == (6, 8, 3) and (gray == gray[..., :1]).all()
    with pytest.raises(InputError, match="cannot read image"):
        read_rgb(tmp_path / "notes.txt")


def test_load_pairs_names_each_pair_after_its_file(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), _rgb(20, 30, seed=4))
    (pair,) = load_pairs(list_images(tmp_path), 4)
    assert pair.name == "x.png"
    assert pair.lr.shape == (5, 7) and pair.hr.shape == (20, 28)
    assert pair.lr.dtype == pair.hr.dtype == np.uint8


def test_eval_scores_the_8_bit_luma_a_video_holds_input_and_target_alike(tmp_path):
    """The target and the model's input were the unrounded luma: every figure read up to 0.1 dB high
    (residual x2 on Set5 37.52 instead of 37.43), and a picture reproduced exactly was not infinite."""
    from vsr.eval.evaluate import evaluate_folder
    from vsr.eval.metrics import psnr, rgb_to_y8
    from vsr.models import resolve

    rng = np.random.default_rng(3)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3)).astype(np.float32), (0, 0), 2.0)
    cv2.imwrite(str(tmp_path / "photo.png"), np.clip(np.rint(photo), 0, 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "zflat.png"), np.full((48, 64, 3), 123, np.uint8))
    report = evaluate_folder(resolve("bicubic", 2), tmp_path)
    hr = mod_crop(read_rgb(tmp_path / "photo.png"), 2)
    hr_y, lr_y = rgb_to_y8(hr), rgb_to_y8(degrade_rgb(hr, 2))
    assert hr_y.dtype == np.uint8 and lr_y.dtype == np.uint8
    independent = psnr(np.clip(np.rint(imresize(lr_y.astype(np.float64), 2.0)), 0, 255), hr_y.astype(np.float64), border=2)
    assert report.images[0].bicubic_psnr == pytest.approx(independent, abs=1e-9)
    assert report.images[1].psnr == report.images[1].bicubic_psnr == float("inf")  # flat grey comes back exactly


@pytest.mark.parametrize("keywords, message", [({"limit": 0}, "limit must be at least 1 image"),
                                               ({"limit": -1}, "limit must be at least 1 image"),  # dropped the last image
                                               ({"device": "tpu"}, "unknown device 'tpu'"),
                                               ({"device": "cuda:7"}, "cuda"),  # an AssertionError from torch
                                               ({"precision": "int8"}, "unknown precision 'int8'")])
def test_evaluate_folder_refuses_bad_arguments_in_one_line(tmp_path, keywords, message):
    from vsr.errors import ConfigError
    from vsr.eval.evaluate import evaluate_folder
    from vsr.models import resolve

    cv2.imwrite(str(tmp_path / "a.png"), np.full((32, 32, 3), 90, np.uint8))
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate_folder(resolve("bicubic", 2), tmp_path, **keywords)


def test_a_data_folder_whose_images_are_one_level_down_names_the_folders_that_hold_them(tmp_path):
    (tmp_path / "Set5" / "HR").mkdir(parents=True)
    (tmp_path / "Set5" / "notes").mkdir()
    cv2.imwrite(str(tmp_path / "Set5" / "HR" / "baby.png"), np.full((8, 8, 3), 9, np.uint8))
    with pytest.raises(InputError, match=r"no images .* in .*Set5; its folder\(s\) HR hold some: name one$"):
        list_images(tmp_path / "Set5")
    for index in range(7):  # a dataset root of many sequences: five named, the rest counted
        (tmp_path / "Set5" / f"seq{index}").mkdir()
        cv2.imwrite(str(tmp_path / "Set5" / f"seq{index}" / "0.png"), np.full((8, 8, 3), 9, np.uint8))
    with pytest.raises(InputError, match=r"its folder\(s\) HR, seq0, seq1, seq2, seq3 and 3 more hold some"):
        list_images(tmp_path / "Set5")
