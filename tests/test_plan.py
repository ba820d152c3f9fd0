"""vsr.pipeline.plan: what a job decides before the first frame, from one UpscaleOptions."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tinymodels import Nearest, sr_model
from vsr.errors import ConfigError, UnsupportedModelError, VsrError
from vsr.media.probe import probe
from vsr.options import EncodeOptions, ModelOptions, UpscaleOptions
from vsr.pipeline.plan import plan_job

BICUBIC_X2 = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2))


def decisions(job) -> tuple:
    """Everything a job decided, the engine by its kind and settings."""
    engine = job.engine
    return (
        job.model.name, job.model.scale, type(engine).__name__, engine.device, engine.precision, job.container,
        job.codec, job.encode_options, job.layout.pix_fmt, job.batch_size, job.width, job.height, job.mode,
        job.frames, job.debug_dir, job.describe(),
    )


def test_a_pickled_options_object_plans_the_same_job(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    options = UpscaleOptions(
        model=ModelOptions(name="espcn", scale=2, device="cpu", precision="fp32", batch_size=3),
        encode=EncodeOptions(codec="libx264", crf=20, preset="ultrafast", pix_fmt="yuv444p"),
    )
    before = plan_job(info, "matroska", options)
    after = plan_job(info, "matroska", pickle.loads(pickle.dumps(options)))
    assert decisions(after) == decisions(before)
    assert (before.model.name, before.batch_size, before.layout.pix_fmt) == ("espcn", 3, "yuv444p")
    assert (before.width, before.height) == (2 * info.width, 2 * info.height)


def test_the_container_picks_the_default_codec(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    assert plan_job(info, "mp4", BICUBIC_X2).codec == "libx264"
    assert plan_job(info, "webm", BICUBIC_X2).codec == "libvpx-vp9"


def test_the_options_are_validated_before_the_model_is_loaded(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    with pytest.raises(ConfigError, match="batch size must be a whole number of at least 1"):
        plan_job(info, "mp4", BICUBIC_X2.replace(model={"batch_size": 0, "name": "nosuchnet"}))


def test_a_loaded_model_replaces_the_named_one(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    job = plan_job(info, "mp4", BICUBIC_X2.replace(model={"device": "cpu"}), model=sr_model(Nearest(2), name="near"))
    assert job.model.name == "near" and job.engine.device == "cpu"


def test_a_loaded_model_of_another_scale_is_refused(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    with pytest.raises(UnsupportedModelError, match="model near is for scale 2, not 4"):
        plan_job(info, "mp4", UpscaleOptions(), model=sr_model(Nearest(2), name="near"))


def test_single_mode_keeps_no_window_and_refuses_a_debug_folder(make_clip, tmp_path):
    info = probe(make_clip("in.mp4", frames=3))
    job = plan_job(info, "mp4", BICUBIC_X2.replace(multi_frame={"frames": 7}))
    assert (job.mode, job.frames, job.debug_dir) == ("single", 1, None)
    with pytest.raises(ConfigError, match="a debug folder .* needs multi-frame mode"):  # it was ignored in silence
        plan_job(info, "mp4", BICUBIC_X2.replace(multi_frame={"debug_dir": Path("maps")}))
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(ConfigError, match="is a file; name a folder"):  # it failed mid-run, as a FileExistsError
        plan_job(info, "mp4", BICUBIC_X2.replace(multi_frame={"mode": "multi", "frames": 3, "debug_dir": tmp_path / "notes.txt"}))


def test_multi_mode_keeps_its_window_and_debug_folder(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    options = BICUBIC_X2.replace(multi_frame={"mode": "multi", "frames": 3, "debug_dir": Path("maps")})
    job = plan_job(info, "mp4", options)
    assert (job.mode, job.frames, job.debug_dir) == ("multi", 3, Path("maps"))
    assert "multi-frame (3 frames)" in job.describe()


def test_a_multi_frame_model_needs_multi_mode(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    with pytest.raises(VsrError, match=r"multiframe_refine is a multi-frame model \(learned fusion\): use it with --mode multi"):
        plan_job(info, "mp4", UpscaleOptions(model=ModelOptions(name="multiframe_refine", scale=4)))


def test_a_filter_chain_that_cannot_run_on_the_input_fails_at_plan_time(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    with pytest.raises(ConfigError, match="cannot run on 64x48"):
        plan_job(info, "mp4", BICUBIC_X2.replace(filters={"video": "crop=200:200"}))


def test_a_job_keeps_its_filter_chain(make_clip):
    info = probe(make_clip("in.mp4", frames=3))
    assert plan_job(info, "mp4", BICUBIC_X2).video_filter == ""
    assert plan_job(info, "mp4", BICUBIC_X2.replace(filters={"video": "atadenoise"})).video_filter == "atadenoise"
