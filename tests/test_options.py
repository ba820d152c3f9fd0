"""vsr.options: one frozen, picklable UpscaleOptions; its validation; folding upscale_video's keywords."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import re
from pathlib import Path

import pytest

import vsr
from vsr.errors import ConfigError, UnsupportedModelError, VsrError
from vsr.options import (
    KEYWORDS,
    EncodeOptions,
    FilterOptions,
    ModelOptions,
    MultiFrameOptions,
    RunOptions,
    UpscaleOptions,
    check_frames,
    options_from_keywords,
)


def test_defaults_are_today_s_defaults():
    options = UpscaleOptions()
    assert options.model == ModelOptions(name=None, scale=4, device="auto", precision="auto", batch_size=None)
    assert options.multi_frame == MultiFrameOptions(mode="single", frames=5, debug_dir=None)
    assert options.filters.video == ""
    assert options.encode == EncodeOptions(codec=None, crf=18, preset="medium", pix_fmt=None, bitrate=None)
    assert options.run == RunOptions(overwrite=False, queue_size=16, max_frames=None)


def test_upscale_video_keyword_defaults_are_the_options_defaults():
    parameters = inspect.signature(vsr.upscale_video).parameters
    defaults = UpscaleOptions()
    for keyword, (group, name) in KEYWORDS.items():
        if keyword == "scale":  # None: the model's own scale, else the options' default
            assert parameters[keyword].default is None and defaults.model.scale == 4
            continue
        assert parameters[keyword].default == getattr(getattr(defaults, group), name), keyword


def test_options_are_frozen():
    options = UpscaleOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.model.scale = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.model = ModelOptions()  # type: ignore[misc]


def test_replace_changes_only_the_named_fields_and_leaves_the_original():
    options = UpscaleOptions(model=ModelOptions(name="espcn", scale=2))
    changed = options.replace(model={"batch_size": 3}, encode={"crf": 12})
    assert changed.model == ModelOptions(name="espcn", scale=2, batch_size=3)
    assert changed.encode.crf == 12 and changed.encode.preset == "medium"
    assert changed.run == options.run and changed.multi_frame == options.multi_frame
    assert options.model.batch_size is None and options.encode.crf == 18


def test_replace_rejects_an_unknown_field():
    with pytest.raises(TypeError):
        UpscaleOptions().replace(model={"scael": 2})


def test_options_pickle_to_an_equal_object():
    options = UpscaleOptions(
        model=ModelOptions(name="runs/x/model.pt", scale=3, batch_size=2),
        multi_frame=MultiFrameOptions(mode="multi", frames=7, debug_dir=Path("/tmp/debug")),
        encode=EncodeOptions(codec="libx265", crf=None, bitrate=2_000_000),
        run=RunOptions(max_frames=10),
    )
    again = pickle.loads(pickle.dumps(options))
    assert again == options
    assert hash(again) == hash(options)
    assert again.multi_frame.debug_dir == Path("/tmp/debug")


@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"model": {"batch_size": 0}}, ConfigError, "batch size must be a whole number of at least 1, got 0"),
        ({"multi_frame": {"mode": "triple"}}, ConfigError, "unknown mode 'triple'; use one of single, multi"),
        ({"multi_frame": {"mode": "multi", "frames": 4}}, ConfigError, "frames must be an odd number from 1 to 15"),
        ({"multi_frame": {"mode": "multi", "frames": 17}}, ConfigError, "got 17"),
        ({"model": {"scale": 5}}, UnsupportedModelError, "unsupported scale 5; use one of 2, 3, 4"),
    ],
)
def test_validate_reports_today_s_messages(changes, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        UpscaleOptions().replace(**changes).validate()
    assert isinstance(caught.value, VsrError)


def test_validate_checks_the_batch_size_before_the_scale():
    with pytest.raises(ConfigError, match="batch size"):
        UpscaleOptions().replace(model={"batch_size": 0, "scale": 5}).validate()


def test_an_even_window_is_fine_in_single_mode():
    options = UpscaleOptions().replace(multi_frame={"frames": 4})
    assert options.validate() is options


@pytest.mark.parametrize("frames, radius", [(1, 0), (5, 2), (15, 7)])
def test_check_frames_returns_the_radius(frames, radius):
    assert check_frames(frames) == radius


@pytest.mark.parametrize("frames", [0, 2, 16, True, 5.0])
def test_check_frames_rejects_other_windows(frames):
    with pytest.raises(ValueError, match="odd number"):
        check_frames(frames)


def test_keywords_change_the_defaults_in_their_groups():
    options = options_from_keywords(scale=2, model=Path("runs/x/model.pt"), crf=20, max_frames=3, debug_dir="maps")
    assert options.model == ModelOptions(name="runs/x/model.pt", scale=2)
    assert options.encode.crf == 20
    assert options.run.max_frames == 3
    assert options.multi_frame.debug_dir == Path("maps")


def test_keywords_at_their_defaults_defer_to_the_options():
    given = UpscaleOptions(model=ModelOptions(name="espcn", scale=2), run=RunOptions(queue_size=4))
    assert options_from_keywords(given, scale=4, model=None, queue_size=16) == given


def test_a_keyword_set_where_the_options_hold_the_default_wins():
    """upscale_video(source, model="bicubic", options=UpscaleOptions(filters=...)) was refused:
    'model='bicubic' conflicts with options.model.name=None'."""
    given = UpscaleOptions(filters=FilterOptions(video="hflip"))
    folded = options_from_keywords(given, model="bicubic", preset="ultrafast")
    assert (folded.model.name, folded.encode.preset, folded.filters.video) == ("bicubic", "ultrafast", "hflip")


def test_a_keyword_that_agrees_with_the_options_is_fine():
    given = UpscaleOptions(model=ModelOptions(scale=2))
    assert options_from_keywords(given, scale=2) == given


def test_a_keyword_that_contradicts_the_options_is_an_error_naming_both():
    given = UpscaleOptions(model=ModelOptions(scale=2))
    with pytest.raises(ConfigError, match=r"scale=3 conflicts with options.model.scale=2"):
        options_from_keywords(given, scale=3)


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="scael"):
        options_from_keywords(scael=2)


@pytest.mark.parametrize("keywords, message", [
    ({"max_frames": 0}, "max frames must be a whole number of at least 1, got 0"),  # wrote one frame
    ({"max_frames": 2.5}, "max frames must be a whole number of at least 1, got 2.5"),
    ({"queue_size": 0}, "queue size must be a whole number of at least 1, got 0"),  # a raw ValueError
    ({"scale": "2"}, "scale must be a whole number of at least 1, got '2'"),  # 'unsupported scale 2'
    ({"crf": "20"}, "the CRF must be a whole number, got '20'"),  # a raw TypeError
])
def test_numbers_that_are_not_whole_or_too_small_are_config_errors(keywords, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        options_from_keywords(**keywords).validate()


def test_a_numpy_integer_is_an_int_and_a_path_the_same_as_its_string():
    import numpy as np

    assert options_from_keywords(scale=np.int64(2), max_frames=np.int32(3)).validate().model.scale == 2
    given = UpscaleOptions(multi_frame=MultiFrameOptions(mode="multi", debug_dir="maps"), model=ModelOptions(name=Path("a.pt")))
    folded = options_from_keywords(given, debug_dir="maps", model="a.pt")  # was a 'conflict' of Path and str
    assert folded.multi_frame.debug_dir == Path("maps") and folded.model.name == Path("a.pt")


def test_a_crf_with_a_bitrate_in_the_options_is_refused_not_ignored():
    given = UpscaleOptions(encode=EncodeOptions(bitrate=200_000))
    with pytest.raises(ConfigError, match=r"crf=30 has no effect with options.encode.bitrate=200000"):
        options_from_keywords(given, crf=30)


def test_replace_with_an_unknown_group_is_a_type_error():
    with pytest.raises(TypeError, match="unknown option group"):  # was an AttributeError
        UpscaleOptions().replace(bogus={"a": 1})


def test_the_error_classes_and_the_segment_and_folder_runs_are_public_names():
    from vsr import errors

    for name in ("InputError", "OutputError", "ConfigError", "UnsupportedModelError", "PipelineError"):
        assert getattr(vsr, name) is getattr(errors, name) and name in vsr.__all__
    assert callable(vsr.upscale_in_segments) and callable(vsr.upscale_folder)


def test_numpy_integers_in_options_built_directly_are_whole_numbers():
    import numpy as np

    options = UpscaleOptions(model=ModelOptions(scale=np.int64(2)), run=RunOptions(queue_size=np.int32(8)))
    assert options.validate() is options
