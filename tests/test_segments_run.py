"""vsr.segments.run: a segmented run with a work folder equals a plain run, and resumes."""

from __future__ import annotations

import gc
import logging
import shutil
import re
import weakref
from fractions import Fraction
from pathlib import Path

import pytest

import vsr.segments.worker as segments_worker
from test_segments_join import CLIP, LOSSLESS, LOSSY
from videoclips import audio_packets, hiding_first_frames, read_video
from vsr import upscale_video
from vsr.errors import ConfigError, OutputError, PipelineError
from vsr.media.index import PacketIndex, read_packet_index
from vsr.options import EncodeOptions, ModelOptions, UpscaleOptions
from vsr.segments.manifest import Manifest, options_digest
from vsr.segments.plan import plan_segments
from vsr.segments.run import JobSummary, SegmentedJob, default_work_dir, upscale_in_segments

SECONDS = 0.5  # three segments of the 40-frame clip
FLAGS = ("--scale", "2", "--model", "bicubic", "--crf", "0", "-q")


@pytest.fixture
def source(make_clip) -> Path:
    return make_clip("in.mp4", **CLIP)


@pytest.fixture
def whole(source: Path, tmp_path: Path) -> Path:
    return upscale_video(source, tmp_path / "whole.mp4", options=LOSSLESS).output


def assert_same_video(result: Path, whole: Path) -> None:
    a, b = read_video(whole), read_video(result)
    assert len(b.pts) == 40 and b.pts == a.pts
    assert all((x == y).all() for x, y in zip(a.lumas, b.lumas))
    assert audio_packets(result) == audio_packets(whole)


def count_segments(monkeypatch, failing: dict[int, int] | None = None) -> list[int]:
    """Record the index of every segment upscaled; `failing`: segment -> how many times its check fails first."""
    calls: list[int] = []
    failures = dict(failing or {})
    real = segments_worker.upscale_segment

    def upscale(source, segment, options, target, **kwargs):
        calls.append(segment.index)
        if failures.get(segment.index, 0) > 0:
            failures[segment.index] -= 1
            raise PipelineError(f"segment {segment.index}", "3 frames written, but the plan holds 13")
        return real(source, segment, options, target, **kwargs)

    monkeypatch.setattr(segments_worker, "upscale_segment", upscale)
    return calls


def test_a_segmented_run_equals_a_plain_run_and_leaves_no_work_folder(source, whole, tmp_path, monkeypatch):
    calls = count_segments(monkeypatch)
    reports: list[tuple[int, int | None]] = []
    target = tmp_path / "out.mp4"
    result = upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS,
                                 progress=lambda done, total: reports.append((done, total)))
    assert (result.output, result.frames, result.width) == (target, 40, read_video(whole, keep_lumas=False).width)
    assert_same_video(target, whole)
    assert calls == [0, 1, 2]
    assert not default_work_dir(target).exists()
    assert reports[-1] == (40, 40) and all(total == 40 for _, total in reports)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_a_segment_failing_its_check_is_redone_once(source, whole, tmp_path, monkeypatch):
    calls = count_segments(monkeypatch, failing={1: 1})
    upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS)
    assert calls == [0, 1, 1, 2]
    assert_same_video(tmp_path / "out.mp4", whole)


def test_a_failed_job_keeps_its_work_folder_and_resume_redoes_only_the_unfinished(source, whole, tmp_path, monkeypatch):
    target = tmp_path / "out.mp4"
    calls = count_segments(monkeypatch, failing={1: 2})
    with pytest.raises(PipelineError, match=r"^segment 1: failed its check 2 times"):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, keep_work=True)
    assert calls == [0, 1, 1]
    assert not target.exists()
    work = default_work_dir(target)
    assert (work / "segment-0000.mp4").exists() and not (work / "segment-0001.mp4").exists()
    assert [s.index for s in Manifest.load(work).pending] == [1, 2]

    with pytest.raises(OutputError, match="pass --resume to continue it, or remove it"):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS)

    calls = count_segments(monkeypatch)
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=10, resume=True)  # the manifest's plan holds
    assert calls == [1, 2]
    assert_same_video(target, whole)
    assert not work.exists()


@pytest.mark.parametrize("made_by_user", [False, True])
def test_a_job_stopped_before_any_segment_finished_leaves_no_work_to_resume(source, whole, tmp_path, monkeypatch, made_by_user):
    """Nothing to resume: the work folder is removed (emptied, if the user made it), so the same
    command runs again without --resume."""
    count_segments(monkeypatch, failing={0: 2})
    target, work = tmp_path / "out.mp4", (tmp_path / "mine" if made_by_user else None)
    if work is not None:
        work.mkdir()
    with pytest.raises(PipelineError, match=r"^segment 0: failed its check 2 times"):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, work_dir=work)
    if made_by_user:
        assert work.is_dir() and not any(work.iterdir())
    else:
        assert not default_work_dir(target).exists()

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, work_dir=work, progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["in.mp4", "mine", "whole.mp4"] if made_by_user else ["in.mp4", "whole.mp4"])
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, work_dir=work)
    assert_same_video(target, whole)


@pytest.mark.parametrize("made_by_user", [False, True])
def test_a_work_dir_vsr_made_goes_when_a_resumed_run_finishes(source, whole, tmp_path, monkeypatch, made_by_user):
    """A --work-dir vsr made was left behind, empty, when the run finished through --resume (only
    the run that made it knew); one the user made is kept."""
    target, work = tmp_path / "out.mp4", tmp_path / "scratch" / "job"
    if made_by_user:
        work.mkdir(parents=True)
    count_segments(monkeypatch, failing={1: 2})
    with pytest.raises(PipelineError):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, work_dir=work)
    assert Manifest.load(work).pending
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, work_dir=work, resume=True)
    assert_same_video(target, whole)
    assert work.is_dir() == made_by_user
    assert not made_by_user or not any(work.iterdir())


def test_a_finished_run_kept_with_keep_work_is_named_as_such(source, whole, tmp_path):
    target = tmp_path / "out.mp4"
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, keep_work=True)
    target.unlink()
    with pytest.raises(OutputError, match=r"holds a run whose segments are all done \(kept with --keep-work, or stopped while joining\); pass --resume"):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS)
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, resume=True)
    assert_same_video(target, whole)


def test_resume_redoes_a_finished_segment_whose_file_was_cut_short(source, whole, tmp_path, monkeypatch):
    target = tmp_path / "out.mp4"
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, keep_work=True)
    work = default_work_dir(target)
    part = work / "segment-0001.mp4"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    target.unlink()
    calls = count_segments(monkeypatch)
    result = upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, resume=True)
    assert calls == [1]
    assert_same_video(target, whole)
    assert result.frames == 40 and 0 < result.frames_run < 40  # the speed counts the redone segment's frames
    assert result.fps == pytest.approx(result.frames_run / result.seconds)


def test_resume_refuses_a_manifest_for_other_options(source, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    Manifest.new(source, LOSSLESS, plan_segments(read_packet_index(source), SECONDS)).save(work)
    with pytest.raises(ConfigError, match="other options"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSY, segment_seconds=SECONDS, work_dir=work, resume=True)
    assert not (tmp_path / "out.mp4").exists() and work.exists()


def test_the_cli_runs_in_segments_and_keeps_the_work_folder_on_request(cli, source, whole, tmp_path):
    target, work = tmp_path / "out.mp4", tmp_path / "work"
    result = cli("upscale", source, "-o", target, "--scale", "2", "--model", "bicubic", "--crf", "0", "-q",
                 "--segment-seconds", SECONDS, "--work-dir", work, "--keep-work")
    assert result.exit_code == 0, result.stderr
    assert_same_video(target, whole)
    assert sorted(p.name for p in work.iterdir()) == ["manifest.json", "segment-0000.mp4", "segment-0001.mp4", "segment-0002.mp4"]
    target.unlink()  # the join says itself: minutes for a film, after the bar has ended
    result = cli("upscale", source, "-o", target, "--scale", "2", "--model", "bicubic", "--crf", "0",
                 "--segment-seconds", SECONDS, "--work-dir", work, "--resume")
    assert f"vsr: joining 3 segment(s) into {target}" in result.stderr.splitlines()

    result = cli("upscale", source, "-o", tmp_path / "other.mp4", "--resume", "--keep-work")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "vsr: error: --resume, --keep-work only applies to a segmented run; add --segment-seconds"
    ]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_time_base_finer_than_a_millisecond_survives_the_segments(make_clip, tmp_path, suffix):
    # 1/12288 is what FFmpeg gives 24 fps MP4s: MP4 edit lists in the default 1/1000 movie
    # timescale moved a segment's first pts (24064 read back as 24060) and the check refused it
    from fractions import Fraction

    source = make_clip("fine.mp4", **{**CLIP, "rate": Fraction(24), "time_base": Fraction(1, 12288)})
    whole = upscale_video(source, tmp_path / f"whole{suffix}", options=LOSSLESS).output
    plan = plan_segments(read_packet_index(source), 0.4)
    assert [s.start_pts for s in plan] == [0, 5120, 10240, 15360]  # 10/24 s and 20/24 s: no whole milliseconds
    result = upscale_in_segments(source, tmp_path / f"out{suffix}", LOSSLESS, segment_seconds=0.4)
    assert_same_video(result.output, whole)


@pytest.mark.parametrize("filters", [
    {"deinterlace": "bwdif", "deinterlace_rate": "field"}, {"ivtc": True},
    {"video": "select='not(eq(t,0.52))'"},  # a --vf chain: found out by running it on the first frames
])
def test_filters_that_change_the_frame_count_are_refused_before_any_work_folder(source, tmp_path, filters):
    with pytest.raises(ConfigError, match=r"^filters that change the frame count \(.+\) cannot run in segments; "
                                          r"drop --segment-seconds and --workers \(or --ray-address\)$"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS.replace(filters=filters), segment_seconds=SECONDS)
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


@pytest.mark.parametrize("chain, why", [
    ("fade=in:0:12", "that counts frames .'fade=in:0:12' fades by frame number"),
    # past the trial's first 24 frames: it passed, and the segmented output never faded out
    ("scale=iw:ih,fade=out:30:5", "that counts frames .'fade=out:30:5' fades by frame number"),
    ("fade=t=out:st=1.2", "that counts frames .'fade=t=out:st=1.2' fades by frame number"),  # over nb_frames from st
    ("fade=type=out:start_time=1:nb_frames=5", "that counts frames .'fade=type=out:start_time=1:nb_frames=5' fades"),
    ("select='gte(n,0)'", "that counts frames .\"select='gte.n,0.'\" uses n"),
    ("setpts=N/FRAME_RATE/TB", "that counts frames .'setpts=N/FRAME_RATE/TB' uses N"),
    ("tmix=frames=9", "whose frames after a cut are not those of one run"),
])
def test_a_vf_chain_that_counts_frames_or_reaches_past_the_context_is_refused(source, tmp_path, chain, why):
    """Each segment starts a new graph: a fade by frame number would restart, a 9-frame mix lacks
    frames before the cut. Found in the chain's text (frame numbers), or by running it whole and
    from a cut on the first frames."""
    with pytest.raises(ConfigError, match=rf"^a --vf chain {why}.+ cannot run in segments; drop --segment-seconds"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS.replace(filters={"video": chain}), segment_seconds=SECONDS)
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


def test_the_temporal_denoisers_reach_is_no_context_for_the_vf_chain(source, tmp_path):
    """The trial gave the chain the denoiser's 3 frames too (4 + 3): a 7-frame mix passed it, and the
    segments differed from one run at their starts; in a segment the chain has 4 frames of its own."""
    options = LOSSLESS.replace(filters={"video": "tmix=frames=7", "denoise": "temporal"})
    with pytest.raises(ConfigError, match=r"^a --vf chain whose frames after a cut are not those of one run .*than 4 frames"):
        upscale_in_segments(source, tmp_path / "out.mp4", options, segment_seconds=SECONDS)


def test_a_vf_chain_within_the_context_runs_in_segments_as_in_one_run(source, tmp_path):
    options = LOSSLESS.replace(filters={"video": "tmix=frames=5"})
    whole = upscale_video(source, tmp_path / "whole.mp4", options=options).output
    assert_same_video(upscale_in_segments(source, tmp_path / "out.mp4", options, segment_seconds=SECONDS).output, whole)


def test_the_cli_refuses_ivtc_in_segments_the_same_way_on_every_try(cli, source, tmp_path):
    for _ in range(2):  # no work folder left behind to ask for --resume
        result = cli("upscale", source, "-o", tmp_path / "out.mp4", *FLAGS, "--ivtc", "--segment-seconds", SECONDS)
        assert result.exit_code == 1
        assert [line for line in result.stderr.strip().splitlines() if "warning: --ivtc" not in line] == [  # (25 fps)
            "vsr: error: filters that change the frame count (inverse telecine (fieldmatch, decimate)) cannot run in "
            "segments; drop --segment-seconds and --workers (or --ray-address)"
        ]
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


def test_an_open_job_keeps_a_summary_not_the_model_so_a_folder_holds_one_at_a_time(make_clip, tmp_path):
    first = SegmentedJob.open(make_clip("a.mp4", **CLIP), tmp_path / "a_x2.mp4", LOSSLESS, segment_seconds=SECONDS)
    (planned,) = segments_worker._planned.jobs.values()  # planned_job's cache: the one job it keeps
    gone = weakref.ref(planned)
    del planned
    SegmentedJob.open(make_clip("b.mp4", **CLIP), tmp_path / "b_x2.mp4", LOSSLESS, segment_seconds=SECONDS)
    gc.collect()
    assert gone() is None  # the first file's job (model, engine) went with the cache
    assert isinstance(first.planned, JobSummary)
    assert (first.planned.model, first.planned.frames) == ("bicubic", 40)
    assert first.planned.description.startswith("a.mp4 ")


def test_an_av1_run_joins_its_segments(source, tmp_path):
    """The parts' stream is copied by its decoder's name (libdav1d), which names no encoder."""
    options = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2), encode=EncodeOptions(codec="libsvtav1", crf=50, preset="12"))
    target = tmp_path / "av1.mkv"
    upscale_in_segments(source, target, options, segment_seconds=SECONDS)
    facts = read_video(target)
    assert facts.codec in ("av1", "libdav1d", "libaom-av1") and len(facts.pts) == 40


def test_a_resume_may_change_the_batch_size_but_not_the_encode():
    base = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2, batch_size=8))
    smaller = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2, batch_size=2))
    other = UpscaleOptions(model=ModelOptions(name="bicubic", scale=2, batch_size=8), encode=EncodeOptions(crf=30))
    assert options_digest(base) == options_digest(smaller) != options_digest(other)


def test_an_empty_folder_the_user_made_serves_as_the_work_folder(source, whole, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, work_dir=work)
    assert_same_video(result.output, whole)


@pytest.mark.parametrize("chain", ["", "unsharp"])  # a --vf chain's trial was refused: its times lacked the lost frames
def test_a_file_cut_in_the_middle_of_a_gop_runs_in_segments_as_in_one_run(source, tmp_path, caplog, chain):
    """Its first frames cannot be decoded: a plain run loses them with a warning, and so does the first segment."""
    import av

    cut = tmp_path / "cut.mkv"
    with av.open(str(source)) as src, av.open(str(cut), "w") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        dropped = 0
        for packet in src.demux(src.streams.video[0]):
            if packet.size and dropped < 2:  # the stream now starts with frames that refer to missing ones
                dropped += 1
                continue
            if packet.size:
                packet.stream = video
                out.mux(packet)
    plan = plan_segments(read_packet_index(cut), SECONDS)
    assert plan[0].leading > 0
    caplog.set_level(logging.WARNING, logger="vsr")
    options = LOSSLESS.replace(filters={"video": chain})
    whole = upscale_video(cut, tmp_path / "whole.mkv", options=options).output
    said = caplog.messages  # a plain run called the cut damage ("dropped 2 damaged frame(s)", "damaged input: ...")
    assert any("could not be decoded: the file starts in the middle of a group of pictures" in m for m in said) and "damaged" not in " ".join(said), said
    caplog.clear()
    result = upscale_in_segments(cut, tmp_path / "out.mkv", options, segment_seconds=SECONDS)
    a, b = read_video(whole), read_video(result.output)
    assert len(b.pts) == len(a.pts) < 38 and b.pts == a.pts
    assert all((x == y).all() for x, y in zip(a.lumas, b.lumas))
    said = caplog.messages  # said once, by the segment's own check, without damage beside it
    assert sum("could not be decoded: the file starts in the middle of a group of pictures" in m for m in said) == 1 and "damaged" not in " ".join(said), said


def test_a_file_whose_edit_list_hides_its_first_frames_runs_in_segments_as_in_one_run(source, tmp_path):
    """The hidden frames were counted as frames of the file: every segmented run of such a cut failed its check."""
    cut = hiding_first_frames(source, tmp_path / "cut.mp4", hidden=7)
    whole = upscale_video(cut, tmp_path / "whole.mp4", options=LOSSLESS).output
    result = upscale_in_segments(cut, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS)
    a, b = read_video(whole), read_video(result.output)
    assert len(b.pts) == len(a.pts) == 33 and b.pts == a.pts
    assert all((x == y).all() for x, y in zip(a.lumas, b.lumas))


def test_the_tasks_a_cluster_worker_receives_name_absolute_paths(make_clip, tmp_path, monkeypatch):
    """A worker runs in the folder its cluster started in: relative paths named another input there
    (upscaled without a word, the driver's audio muxed onto it) or none."""
    from tinymodels import write_weight_file

    make_clip("in.mp4", **CLIP)
    write_weight_file(tmp_path / "tiny.pt", scale=2)
    monkeypatch.chdir(tmp_path)
    options = LOSSLESS.replace(model={"name": "tiny.pt"})
    job = SegmentedJob.open(Path("in.mp4"), Path("out.mp4"), options, segment_seconds=SECONDS)
    try:
        tasks = job.tasks()
        assert len(tasks) == 3
        for task in tasks:
            assert task.source == tmp_path / "in.mp4" and task.target.is_absolute()
            assert task.target.parent == tmp_path / ".out.mp4.vsr-work"
            assert task.options.model.name == str(tmp_path / "tiny.pt")
    finally:
        job.discard_if_unstarted()
        job.close()
    planned = []
    real = segments_worker.plan_job
    monkeypatch.setattr(segments_worker, "plan_job", lambda *args: planned.append(args) or real(*args))
    segments_worker._planned.jobs.clear()
    upscale_in_segments(Path("in.mp4"), Path("out.mp4"), options, segment_seconds=SECONDS)
    assert len(planned) == 1  # in this process the segments reuse the job the driver planned (the model loaded once)


def test_a_second_run_of_a_work_folder_in_use_is_refused_until_the_first_ends(source, whole, tmp_path, monkeypatch):
    """Two --resume runs of one job both ran every segment left, and the second to join removed the
    folder under the first ("cannot create the output file in .out.mp4.vsr-work")."""
    count_segments(monkeypatch, failing={1: 2})
    with pytest.raises(PipelineError):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS)
    first = SegmentedJob.open(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, resume=True)
    for resume in (True, False):  # without --resume it was told to remove the folder the first run works in
        with pytest.raises(OutputError, match="another run is using the work folder .*out.mp4.vsr-work"):
            upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, resume=resume)
    with pytest.raises(OutputError, match="another run is using"):  # a folder run's job, which holds no lock, checks it
        SegmentedJob.open(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, resume=True, lock=False)
    first.close()
    upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, resume=True)
    assert_same_video(tmp_path / "out.mp4", whole)


def test_the_output_s_own_folder_as_the_work_folder_keeps_the_output_and_the_folder(source, whole, tmp_path):
    """The finished output was deleted with the work folder (rmtree after the join), exit 0; a
    folder holding other files (the user's other films) was refused with the advice to remove it."""
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "other.mkv").write_bytes(b"the user's")
    target = folder / "film.mp4"
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, work_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["film.mp4", "other.mkv"]
    assert (folder / "other.mkv").read_bytes() == b"the user's"
    assert_same_video(target, whole)
    with pytest.raises(OutputError, match="other.mkv is a file; give --work-dir a folder"):
        upscale_in_segments(source, tmp_path / "again.mp4", LOSSLESS, segment_seconds=SECONDS, work_dir=folder / "other.mkv")


def test_resume_redoes_a_segment_damaged_in_place(source, whole, tmp_path, monkeypatch):
    """Bytes zeroed inside a finished segment (same size) were joined as they were."""
    target = tmp_path / "out.mp4"
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, keep_work=True)
    part = default_work_dir(target) / "segment-0001.mp4"
    data = bytearray(part.read_bytes())
    data[len(data) // 2: len(data) // 2 + 200] = bytes(200)
    part.write_bytes(bytes(data))
    target.unlink()
    calls = count_segments(monkeypatch)
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, resume=True)
    assert calls == [1]
    assert_same_video(target, whole)


@pytest.mark.parametrize("filters", [
    {"video": "atadenoise=p=6:s=21"},  # temporal on chroma alone, 10 frames each way: the luma is the same after a cut
])
def test_a_vf_chain_reaching_past_the_context_on_chroma_alone_is_refused(source, tmp_path, filters):
    with pytest.raises(ConfigError, match=r"^a --vf chain whose frames after a cut are not those of one run"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS.replace(filters=filters), segment_seconds=SECONDS)


def test_a_deinterlacer_and_a_temporal_vf_chain_get_both_their_reaches(source, tmp_path):
    """The chain runs on the deinterlaced frames: the context is the sum (2 + 4), not the larger;
    with 4 the frames after a cut differed from one run's."""
    options = LOSSLESS.replace(filters={"deinterlace": "bwdif", "video": "atadenoise"})
    assert options.filters.temporal_reach() == 6
    whole = upscale_video(source, tmp_path / "whole.mp4", options=options).output
    assert_same_video(upscale_in_segments(source, tmp_path / "out.mp4", options, segment_seconds=0.3).output, whole)


def test_frames_before_the_first_keyframe_longer_than_a_segment_join_the_first_segment():
    """Segment 0 held only the frames before the first keyframe (which decode to nothing), and its
    empty file failed the run."""
    index = PacketIndex(tuple(range(40)), (15, 30), Fraction(1, 25))
    plan = plan_segments(index, 0.2)  # 5 frames
    assert [(s.start_pts, s.end_pts, s.leading) for s in plan] == [(0, 30, 15), (30, None, 0)]


def test_the_joined_video_says_the_frame_rate_a_plain_run_says(make_clip, tmp_path):
    """The join took the first segment's rate, which Matroska only estimates from its few frames."""
    source = make_clip("phone.mp4", frames=40, rate=Fraction(45000, 1499), time_base=Fraction(1, 90000),
                       options={"g": "5"})
    plain = upscale_video(source, tmp_path / "plain.mkv", options=LOSSLESS).output
    joined = upscale_in_segments(source, tmp_path / "out.mkv", LOSSLESS, segment_seconds=SECONDS).output
    assert read_video(joined, keep_lumas=False).average_rate == read_video(plain, keep_lumas=False).average_rate


def test_a_resume_with_nothing_left_says_it_joined_rather_than_0_fps(cli, source, tmp_path):
    target = tmp_path / "out.mp4"
    flags = ("--scale", "2", "--model", "bicubic", "--crf", "0", "--segment-seconds", SECONDS)
    assert cli("upscale", source, "-o", target, *flags, "--keep-work", "-q").exit_code == 0
    target.unlink()
    result = cli("upscale", source, "-o", target, *flags, "--resume")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"vsr: wrote {target} (128x96, 40 frames, joined, none left to upscale)"


def test_h264_with_b_frames_in_avi_is_refused_for_segments_before_any_work(make_clip, tmp_path):
    """Its frames' times are made up in decode order: a segmented run failed mid-way with '23 frames
    written, but the plan holds 24' (the plain run keeps every frame)."""
    source = make_clip("bframes.avi", frames=30, options={"bf": "2", "b-adapt": "0"})
    with pytest.raises(ConfigError, match="h264 with B-frames in AVI, which holds no presentation times"):
        upscale_in_segments(source, tmp_path / "out.mkv", LOSSLESS, segment_seconds=0.4)
    assert not (tmp_path / "out.mkv").exists() and not list(tmp_path.glob(".*vsr-work"))


def test_resume_without_a_work_folder_says_it_starts_afresh(make_clip, tmp_path, caplog):
    source = make_clip("clip.mkv", **CLIP)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        upscale_in_segments(source, tmp_path / "out.mkv", LOSSLESS, segment_seconds=0.5, resume=True)
    assert any(m.startswith("no work folder") and m.endswith("starting afresh") for m in caplog.messages)


def test_an_input_replaced_during_the_run_stops_it_rather_than_mixing_two_files(make_clip, source, tmp_path):
    """Replaced after the first segments (a recording still written, another run's --overwrite):
    frames from both files and the new one's audio were joined, exit 0."""
    import os
    import shutil

    from vsr.errors import InputError

    other = make_clip("other.mp4", **{**CLIP, "seed": 7})
    replaced = []

    def replace_once(done: int, total: int | None) -> None:
        if done and not replaced:
            shutil.copyfile(other, tmp_path / "swap.mp4")
            os.replace(tmp_path / "swap.mp4", source)
            replaced.append(done)

    with pytest.raises(InputError, match=r"^in.mp4 changed during the run \(replaced or written to\)"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, progress=replace_once)
    assert replaced and not (tmp_path / "out.mp4").exists()
    assert not default_work_dir(tmp_path / "out.mp4").exists()  # of two files: no --resume could use it
    # only touched (its time changed, not its content): the run goes on, and is the plain run's
    touched = []

    def touch_once(done: int, total: int | None) -> None:
        if done and not touched:
            os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
            touched.append(done)

    result = upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS, progress=touch_once)
    assert touched and result.frames == 40


def test_a_segment_file_gone_before_the_join_is_said_as_such(source, tmp_path, monkeypatch):
    """It was "input file not found: .../segment-0000.mp4", as if the user's input were missing."""
    real = SegmentedJob.join

    def lose_one(self):
        self.files[0].unlink()
        return real(self)

    monkeypatch.setattr(SegmentedJob, "join", lose_one)
    with pytest.raises(PipelineError, match=r"^join: the file of 1 segment\(s\) is gone \(segment-0000.mp4 in .*--resume"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS, segment_seconds=SECONDS)
    assert not (tmp_path / "out.mp4").exists()


def test_two_threads_segmented_runs_keep_a_planned_job_each(make_clip, tmp_path, monkeypatch):
    """planned_job kept one job for the process: two runs in two threads evicted each other's (the
    model loaded again at every segment) and, with the same input and options, shared one engine
    (on a GPU, its pinned buffers)."""
    import threading

    import vsr.segments.run as segments_run

    source = make_clip("in.mp4", **CLIP)
    planned: list[int] = []
    real = segments_worker.plan_job

    def counting(*args, **kwargs):
        planned.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(segments_worker, "plan_job", counting)
    jobs: dict[str, object] = {}
    barrier = threading.Barrier(2, timeout=30)
    real_open = segments_run.SegmentedJob.open.__func__

    def open_together(cls, *args, **kwargs):
        job = real_open(cls, *args, **kwargs)
        barrier.wait()  # both planned before either runs a segment
        return job

    monkeypatch.setattr(segments_run.SegmentedJob, "open", classmethod(open_together))

    def run(name: str) -> None:
        upscale_in_segments(source, tmp_path / f"{name}.mp4", LOSSLESS, segment_seconds=SECONDS)
        jobs[name] = "done"

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert jobs == {"a": "done", "b": "done"}
    assert len(planned) == 2 and planned[0] != planned[1]  # one plan a thread, kept for all its segments


@pytest.mark.parametrize("chain, why", [
    ("fps=24", "fps: each segment would be retimed from its own start"),  # on 25 fps: 24 frames of the first 24 kept
    ("setpts=0.5*PTS", "setpts"),
    ("hflip,setpts='PTS-STARTPTS+0.3/TB'", "setpts"),
    ("settb=1/1000,hflip", None),  # another time base, the same times: it runs
])
def test_a_vf_chain_that_retimes_the_frames_is_refused_before_any_work(source, tmp_path, chain, why):
    """It kept the trial's frame count, then every segment failed its check twice ("13 frames written,
    but the plan holds 12"), or wrote no frame ("... is not a video file FFmpeg can read")."""
    options = LOSSLESS.replace(filters={"video": chain})
    if why is None:
        assert upscale_in_segments(source, tmp_path / "out.mp4", options, segment_seconds=SECONDS).frames == 40
        return
    with pytest.raises(ConfigError, match=r"^a --vf chain that changes the frames' times \(" + re.escape(why)):
        upscale_in_segments(source, tmp_path / "out.mp4", options, segment_seconds=SECONDS)
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


def test_a_retiming_filter_the_names_miss_is_found_by_the_trial_of_the_times(source, tmp_path, monkeypatch):
    import vsr.segments.run as segments_run

    monkeypatch.setattr(segments_run, "RETIMING_FILTERS", frozenset())
    with pytest.raises(ConfigError, match=r"^a --vf chain that changes the frames' times \(segments are cut"):
        upscale_in_segments(source, tmp_path / "out.mp4", LOSSLESS.replace(filters={"video": "setpts=PTS+0.2/TB"}),
                            segment_seconds=SECONDS)


@pytest.mark.parametrize("model", [{"precision": "fp16"}, {"device": "cuda"}])
def test_what_a_cluster_would_refuse_of_bicubic_is_refused_before_any_work(source, tmp_path, model):
    """The driver plans a cluster's job on its CPU in auto precision: --precision fp16 (or --device
    cuda) with bicubic passed there, and every worker refused it after the work folder and Ray had started."""
    from vsr.segments.run import SequentialRunner

    class Cluster(SequentialRunner):
        local = False

        def run(self, tasks, report):
            raise AssertionError("no segment should run")

    options = LOSSLESS.replace(model=model)
    with pytest.raises(ConfigError, match=r"bicubic is OpenCV's interpolation.*does not apply"):
        SegmentedJob.open(source, tmp_path / "out.mp4", options, segment_seconds=SECONDS, runner=Cluster())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_finished_work_folder_left_beside_its_output_is_said_when_the_output_is_refused(source, tmp_path):
    """A run killed between its join and its cleanup left the work folder for good: reruns only said
    the output exists."""
    target = tmp_path / "out.mp4"
    upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS, keep_work=True)  # as the kill leaves it
    with pytest.raises(OutputError, match=r"exists; pass --overwrite .*\(its finished work folder .* is still there"):
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS)
    shutil.rmtree(default_work_dir(target))
    with pytest.raises(OutputError, match=r"exists; pass --overwrite") as refused:
        upscale_in_segments(source, target, LOSSLESS, segment_seconds=SECONDS)
    assert "work folder" not in str(refused.value)
