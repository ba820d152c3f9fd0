"""Segmented runs: the input planned into keyframe segments, each upscaled into a work folder (its
manifest saved after every finished segment, so that an interrupted job can resume), then joined
into the output. The segments run on a `Runner`: one after another in this process
(`SequentialRunner`), or spread over a Ray cluster (vsr.segments.distributed). The driver, this
module, alone writes the manifests: workers only return small results.

    upscale_in_segments(source, target, options, segment_seconds=60)              # fresh run
    upscale_in_segments(source, target, options, segment_seconds=60, resume=True) # after a failure
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from vsr.engine.cpu import heap_given_back_after
from vsr.errors import ConfigError, InputError, OutputError, PipelineError, VsrError
from vsr.files import file_sha256, fitting_name
from vsr.media import mux
from vsr.media.decode import DecodeStats, read_items
from vsr.media.frames import VideoItem
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.index import read_packet_index
from vsr.media.probe import first_video_stream, frame_duration, open_input
from vsr.models.resolve import is_weight_file, resolve
from vsr.options import UpscaleOptions, check_frames
from vsr.pipeline.plan import Job, check_network_settings
from vsr.pipeline.result import UpscaleResult, default_output_path
from vsr.pipeline.run import Progress
from vsr.segments.join import join_segments
from vsr.segments.manifest import MANIFEST_NAME, Manifest, SegmentRecord, State
from vsr.segments.plan import Segment, default_segment_seconds, plan_segments
from vsr.segments.worker import (
    SegmentResult, SegmentTask, SourceChanged, check_source_unchanged, forget_planned_jobs, planned_job, source_stamp,
    upscale_checked,
)

log = logging.getLogger(__name__)

WORK_FILE = re.compile(rf"{re.escape(MANIFEST_NAME)}|\.{re.escape(MANIFEST_NAME)}\.tmp-.+|\.?segment-\d{{4,}}\..+")
"""The names of the files vsr writes in a work folder: the manifest (and its temporary files), the
segment files and their partial files (`.segment-0001.vsr-<pid>-<token>.partial.mp4`)."""

Outcome = SegmentResult | VsrError
"""What became of a segment task: its checked file, or the error that ended it."""


class Runner(Protocol):
    """Where segments run. `workers`: how many at once (for the default segment length); `local`:
    whether they run in this process (else the driver plans each job only to check its options,
    on the CPU, and `device` is what the result reports)."""

    workers: int
    local: bool
    device: str

    def run(self, tasks: Sequence[SegmentTask], report: Callable[[int], None]) -> Iterator[tuple[SegmentTask, Outcome]]:
        """Upscale `tasks` (in any order, several at once), yielding each with its outcome as it
        finishes; `report(frames)` is called now and then with the frames written so far by the
        tasks still running. Closing the iterator stops the tasks not finished."""
        ...


class SequentialRunner:
    """The segments one after another in this process (a plain `--segment-seconds` run)."""

    workers = 1
    local = True
    device = ""

    def run(self, tasks: Sequence[SegmentTask], report: Callable[[int], None]) -> Iterator[tuple[SegmentTask, Outcome]]:
        for task in tasks:
            try:
                result = upscale_checked(task, progress=lambda written, _total: report(written))
            except VsrError as exc:
                yield task, exc
            except Exception as exc:  # a bug in one segment: one line, the traceback kept as the cause
                error = PipelineError(task.stage, f"{type(exc).__name__}: {exc}")
                error.__cause__ = exc
                yield task, error
            else:
                yield task, result


@dataclass(frozen=True)
class JobSummary:
    """What the driver keeps of a planned job (never the job itself: its model and engine stay in
    planned_job's cache, so a folder's jobs do not hold one model each): the log line, the model,
    where and how it runs, the output size, the frames after the filters (None: not known) and
    their frame rate (what the output stream says, as a plain run's does)."""

    description: str
    model: str
    device: str
    precision: str
    width: int
    height: int
    frames: int | None
    frame_rate: Fraction | None = None

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        return cls(job.describe(), job.model.name, job.engine.device, job.engine.precision, job.width, job.height,
                   job.filtered.frame_count, job.filtered.average_rate)


@dataclass
class SegmentedJob:
    """One input's segmented job, in the driver: where its segments go and how far they got."""

    source: Path
    target: Path
    options: UpscaleOptions
    container: str
    work: Path
    manifest: Manifest
    files: list[Path]
    planned: JobSummary
    """The job as the driver planned it (for a non-local runner, on the CPU, to check the options),
    summed up: the job itself (its model) stays in planned_job's cache, for the segments this thread
    runs to reuse."""
    keep_work: bool = False
    fresh: bool = False
    """Whether this run found no work files in the work folder: then none of them is older than the run."""
    made_work: bool = False
    """Whether vsr made the work folder (this run, or the run it resumes)."""
    source_stamp: tuple[int, int] | None = None
    """The input's size and modification time when the job was opened: checked by every segment and the join."""
    _intact_files: dict[int, bool] = field(default_factory=dict, repr=False)
    """Segments whose finished file was found intact (or not), each read once per run."""
    _unlock: weakref.finalize | None = field(default=None, repr=False)
    """Closes the descriptor of the work folder that holds its flock while the job is open: at
    close(), or when the job is collected."""

    @classmethod
    def open(
        cls, source: Path, target: Path | None, options: UpscaleOptions, *, segment_seconds: float | None,
        work_dir: Path | None = None, resume: bool = False, keep_work: bool = False, runner: Runner | None = None,
        lock: bool = True,
    ) -> SegmentedJob:
        """Check the job (bad options fail before a work folder exists), then open its work folder:
        see upscale_in_segments. `segment_seconds` None: default_segment_seconds for the runner's workers.
        `lock`: hold the work folder's flock until close() (a folder run of many files does not: a
        descriptor each would run out)."""
        source = Path(source)
        target = Path(target) if target is not None else default_output_path(source, options.model.scale)
        runner = runner or SequentialRunner()
        _check_segmentable(source, options)
        stamp = source_stamp(source)  # before the manifest reads it: a change from then on is seen
        container = mux.container_format(target)
        try:
            mux.check_output_path(source, target, options.run.overwrite)
        except OutputError as exc:
            work = Path(work_dir) if work_dir is not None else default_work_dir(target)
            if target.exists() and holds_work(work) and _finished(work):  # a SIGKILL between the join and its cleanup
                raise OutputError(f"{exc} (its finished work folder {work} is still there: remove it once the "
                                  "output is checked)") from None
            raise
        if not runner.local:  # planned here on the CPU: what its workers would refuse, refused now
            check_network_settings(resolve(options.model.name, options.model.scale), options.model.device,
                                   options.model.precision)
        checked = options if runner.local else options.replace(model={"device": "cpu", "precision": "auto"})
        planned = _checked_plan(source, checked, container)
        work = Path(work_dir) if work_dir is not None else default_work_dir(target)
        fresh = not holds_work(work)
        resumed = resume and not fresh
        held = _lock_work(work) if work.is_dir() else None  # before its work is judged: a live run's is not stale
        if not lock:  # in use by another run: refused all the same; free: not held (a descriptor a file would run out)
            _close_quietly(held)
            held = None
        try:
            manifest = _open_work(work, source, options, segment_seconds, resume, runner.workers)
            if lock and held is None:
                held = _lock_work(work)
        except BaseException:
            _close_quietly(held)
            raise
        files = [segment_path(work, r.segment, target.suffix) for r in manifest.segments]  # a resumed job keeps its plan
        job = cls(source, target, options, container, work, manifest, files, planned, keep_work, fresh,
                  manifest.made_folder, stamp)
        job._unlock = weakref.finalize(job, _close_quietly, held)
        if resumed:
            log.info("resuming: %d of %d segment(s) to do", len(job.todo()), len(manifest.segments))
        elif resume:
            log.warning("no work folder %s to resume (finished and removed, or another --work-dir?): starting afresh", work)
        return job

    @property
    def total(self) -> int:
        """The frames of every segment."""
        return sum(r.segment.frames for r in self.manifest.segments)

    def todo(self) -> list[Segment]:
        """The segments not finished, or whose file went missing or is not the file it was when
        checked (cut short, replaced, damaged in place: its size and SHA-256)."""
        return [r.segment for r in self.manifest.segments if r.state is not State.DONE or not self._intact(r)]

    def _intact(self, record: SegmentRecord) -> bool:
        index = record.segment.index
        if index not in self._intact_files:
            try:
                path = self.files[index]
                self._intact_files[index] = path.stat().st_size == record.bytes and (
                    not record.sha256 or file_sha256(path) == record.sha256)
            except OSError:
                self._intact_files[index] = False
            if not self._intact_files[index]:
                log.info("segment %d: its file is missing or changed since it was checked; it is done again", index)
        return self._intact_files[index]

    def tasks(self, key: int = 0, *, absolute: bool = True) -> list[SegmentTask]:
        """The tasks of the segments to do, marked as job `key`. `absolute`: their paths (input, segment
        files, a weight file) made absolute, for workers in other processes: a cluster's run in another
        folder, where a relative one names another file or none (in this process the paths as given
        find the job the driver planned, in planned_job's cache)."""
        if not absolute:
            return [SegmentTask(self.source, s, self.options, self.files[s.index], key, self.source_stamp)
                    for s in self.todo()]
        options = self.options
        if options.model.name is not None and is_weight_file(options.model.name):
            options = options.replace(model={"name": os.path.abspath(options.model.name)})
        source = self.source.absolute()
        return [SegmentTask(source, s, options, self.files[s.index].absolute(), key, self.source_stamp)
                for s in self.todo()]

    def record(self, segment: Segment, result: SegmentResult) -> None:
        """Mark `segment` done in the manifest and save it (atomically)."""
        try:
            digest = file_sha256(self.files[segment.index])
        except OSError as exc:
            raise OutputError(f"cannot read the finished segment {self.files[segment.index]}: {mux.system_reason(exc)}") from None
        self.manifest = self.manifest.finished(segment.index, result.frames, result.bytes, digest)
        self._intact_files[segment.index] = True
        self.manifest.save(self.work)

    def close(self) -> None:
        """Let other runs use the work folder (a job left open holds it until it is collected)."""
        if self._unlock is not None:
            self._unlock()

    def discard(self) -> None:
        """Remove this run's work, whatever was done (see _remove_work)."""
        self._remove_work()

    def discard_if_unstarted(self) -> None:
        """After a failure: remove this run's work if no segment was finished (there is nothing to
        resume), so that the next run needs no --resume (see _remove_work)."""
        if self.fresh and not any(r.state is State.DONE for r in self.manifest.segments):
            self._remove_work()

    def join(self) -> int:
        """Join the segment files into the target (the work removed unless keep_work); the frames written."""
        check_source_unchanged(self.source, self.source_stamp, self.manifest.input_sha256)  # its audio is copied now
        if gone := [path for path in self.files if not path.is_file()]:
            raise PipelineError("join", f"the file of {len(gone)} segment(s) is gone ({gone[0].name} in {self.work}: removed "
                                "during the run?); run again with --resume to redo them")
        log.info("joining %d segment(s) into %s", len(self.files), self.target)  # minutes for a film: not a hang
        frames = join_segments(self.source, self.files, self.target, self.container, overwrite=self.options.run.overwrite,
                               frame_rate=self.planned.frame_rate)
        if not self.keep_work:
            self._remove_work()
        return frames

    def _remove_work(self) -> None:
        """Remove the files vsr put in the work folder (manifest, segments, their partial files),
        and the folder where it is vsr's own (made by this run, or of the default name) and left
        empty: a folder the user named (--work-dir, perhaps the output's own) keeps everything else."""
        with contextlib.suppress(OSError):
            for entry in self.work.iterdir():
                if WORK_FILE.fullmatch(entry.name):
                    entry.unlink(missing_ok=True)
        if self.made_work or self.work == default_work_dir(self.target):
            try:
                self.work.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not remove the work folder %s: %s", self.work, mux.system_reason(exc))


def upscale_in_segments(
    source: Path, target: Path | None, options: UpscaleOptions, *, segment_seconds: float | None,
    work_dir: Path | None = None, resume: bool = False, keep_work: bool = False, progress: Progress | None = None,
    runner: Runner | None = None,
) -> UpscaleResult:
    """Upscale the video `source` into `target` (None: `<stem>_x<scale><ext>` beside it) in
    segments of about `segment_seconds` cut at keyframes, with the same result as upscale_video.

    The segments go to `work_dir` (default: default_work_dir(target)) with a manifest. Without
    `resume` an existing work folder is refused; with it, its manifest must be for this input and
    these options (ConfigError otherwise), its plan is kept (whatever `segment_seconds`), and only
    unfinished segments are upscaled (no work folder yet: a fresh start). The work (vsr's files in
    the work folder, and the folder where vsr made or named it: SegmentedJob._remove_work) is
    removed after the join unless `keep_work`, and kept when the job fails after a segment was
    finished (nothing is then written to `target`; work in which no segment was finished is removed,
    and so is the work of an input that changed during the run: SourceChanged). `progress` is called with (frames done over all segments, total).
    `runner`: where the segments run (default: SequentialRunner, in this process);
    `segment_seconds` None: default_segment_seconds for its workers.
    Raises a VsrError subclass on failure; PipelineError (stage "segment N") for a segment that
    failed twice."""
    runner = runner or SequentialRunner()
    with whole_run():
        job = SegmentedJob.open(source, target, options, segment_seconds=segment_seconds, work_dir=work_dir,
                                resume=resume, keep_work=keep_work, runner=runner)
        planned = job.planned
        log.info("%s, %d segment(s) in %s%s", planned.description if runner.local else job.source.name,
                 len(job.manifest.segments), job.work, "" if runner.local else f" on Ray, {runner.workers} at a time")
        started = time.perf_counter()
        redone = sum(segment.frames for segment in job.todo())
        try:
            (frames,) = run_jobs([job], runner, progress)
        except SourceChanged:
            job.discard()  # its segments are of another file: no --resume can use them
            raise
        except BaseException:
            job.discard_if_unstarted()
            raise
        finally:
            job.close()
    assert isinstance(frames, int)
    return UpscaleResult(
        job.target, frames, time.perf_counter() - started, planned.model,
        planned.device if runner.local else runner.device, planned.precision if runner.local else "auto",
        planned.width, planned.height, frames_run=round(frames * redone / job.total) if job.total else frames,
    )


def run_jobs(
    jobs: Sequence[SegmentedJob], runner: Runner, progress: Progress | None = None, *, keep_going: bool = False,
) -> list[int | VsrError]:
    """Run the segments still to do of every job on `runner`, saving each job's manifest as its
    segments finish, and join each job once all its segments are done. Returns, per job, the
    frames written or (`keep_going`) the error that ended it: its other segments still run and
    are recorded, for a later resume. Without `keep_going` the first error is raised (the
    segments still running are stopped). `progress`: (frames done over all jobs, their total)."""
    total = sum(job.total for job in jobs)
    done = total - sum(s.frames for job in jobs for s in job.todo())
    outcomes: list[int | VsrError | None] = [None] * len(jobs)
    tasks = [task for key, job in enumerate(jobs) for task in job.tasks(key, absolute=not runner.local)]
    remaining = Counter(task.job for task in tasks)

    progress = passed_through(progress)

    def report(running: int) -> None:
        if progress is not None:
            progress(done + running, total)

    def finish(key: int) -> None:
        try:
            outcomes[key] = jobs[key].join()
        except VsrError as exc:
            if not keep_going:
                raise
            outcomes[key] = exc
            if isinstance(exc, SourceChanged):
                jobs[key].discard()  # segments of two files: no --resume could use them

    try:
        report(0)
        for key in range(len(jobs)):
            if not remaining[key]:
                finish(key)
        results = runner.run(tasks, report)
        with contextlib.closing(results):  # on an error or an interruption: the runner stops its tasks
            for task, outcome in results:
                job = jobs[task.job]
                remaining[task.job] -= 1
                if isinstance(outcome, VsrError):
                    if not keep_going:
                        raise outcome
                    if outcomes[task.job] is None:  # a file's first failure is said: its other segments' may repeat it
                        log.warning("%s: %s", job.source.name, outcome)
                        outcomes[task.job] = outcome
                elif not isinstance(outcomes[task.job], SourceChanged):  # else of two files: not to be kept
                    job.record(task.segment, outcome)
                    done += outcome.frames
                if not remaining[task.job] and isinstance(outcomes[task.job], SourceChanged):
                    job.discard()  # once none of its segments runs: segments of two files, no --resume could use them
                report(0)
                if not remaining[task.job] and outcomes[task.job] is None:
                    finish(task.job)
        return [outcome if outcome is not None else PipelineError("join", "not joined") for outcome in outcomes]
    except CallerStopped as stopped:  # the caller's progress callback raised: its exception, as it is
        raise stopped.error from None


@contextlib.contextmanager
def whole_run() -> Iterator[None]:
    """Around a segmented or folder run, from before its first model loads: the heap given back
    when it ends (vsr.engine.cpu.heap_given_back_after), and the job planned_job keeps for the
    segments (its model and engine; on a GPU, its memory) let go of."""
    try:
        with heap_given_back_after():
            yield
    finally:
        forget_planned_jobs()


class CallerStopped(BaseException):
    """The caller's progress callback raised `error` inside a segment or a file of a folder: carried
    past the handling of a segment's or a file's own errors (which would record it as that one's
    failure and go on with the others), and raised again as it is where the run ends."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def passed_through(progress: Progress | None) -> Progress | None:
    """`progress` with its exceptions raised as CallerStopped."""
    if progress is None:
        return None

    def call(done: int, total: int | None) -> None:
        try:
            progress(done, total)
        except Exception as exc:
            raise CallerStopped(exc) from exc

    return call


def default_work_dir(target: Path) -> Path:
    """`.<target name>.vsr-work` beside the target (a long name cut and marked to fit: vsr.files.fitting_name)."""
    return target.with_name(f".{fitting_name(target.name, len('.') + len(WORK_SUFFIX))}{WORK_SUFFIX}")


WORK_SUFFIX = ".vsr-work"
"""What a work folder's name adds to its output's name."""


def segment_path(work: Path, segment: Segment, suffix: str) -> Path:
    """The file of `segment` in the work folder: `segment-0000<suffix>`."""
    return work / f"segment-{segment.index:04d}{suffix}"


def _check_segmentable(source: Path, options: UpscaleOptions) -> None:
    """ConfigError for what a segmented run cannot do: a still image, a preview (max_frames), a debug
    folder, H.264/HEVC with B-frames in AVI (its frames' times are made up in decode order)."""
    if source.suffix.lower() in IMAGE_SUFFIXES:
        raise ConfigError(f"{source.name} is a still image; segments are for videos")
    if options.run.max_frames is not None:
        raise ConfigError("a preview (--max-frames) cannot run in segments; drop one or the other")
    if options.multi_frame.debug_dir is not None:  # each segment would write its maps over the last one's
        raise ConfigError("the debug folder's maps name a plain run's frames; drop --debug-dir or the segments")
    with open_input(source) as container:
        video = first_video_stream(container, source)
        if container.format.name == "avi" and video.codec_context.name in ("h264", "hevc") and video.codec_context.has_b_frames:
            raise ConfigError(f"{source.name} is {video.codec_context.name} with B-frames in AVI, which holds no "
                              "presentation times to cut segments at; upscale it whole (without segments)")


def _checked_plan(source: Path, options: UpscaleOptions, container: str) -> JobSummary:
    """planned_job for `source` (the options checked, the model loaded: for a local runner, the
    job its segments then reuse), summed up; ConfigError for filters that change the frame count,
    which segments cannot run (a segment's frames would not be the plan's), before any work folder."""
    job = planned_job(source, options, container)
    if job.info.start_pts < 0:
        raise ConfigError(f"{source.name}'s video starts before 0 s ({float(job.info.start_pts * job.info.time_base):.3f} s), "
                          "which segments cannot keep; drop --segment-seconds and --workers (or --ray-address)")
    reason = _vf_trial(job, options.filters.ffmpeg_reach())  # the context FFmpeg's graph has of its own in a segment
    if reason is not None:
        raise ConfigError(f"{reason} cannot run in segments; drop --segment-seconds and --workers (or --ray-address)")
    return JobSummary.of(job)


VF_TRIAL_FRAMES = 24
"""Frames a --vf chain is tried on before a segmented run (the cut of the trial is half way)."""


def _vf_trial(job: Job, reach: int) -> str | None:
    """Why the job's filters cannot run in segments, else None. Those that change the frame count
    are known; a --vf chain of the user's (whose effect only running it tells) is run on the first
    VF_TRIAL_FRAMES frames, whole and from a cut half way (with the `reach` frames of context a
    segment is given): it must keep the count and give the same frames after the cut, which a chain
    that counts frames (fade=in:0:12, select on n) or looks back further than the context does not."""
    if job.filters.changes_count:
        return f"filters that change the frame count ({job.filters.describe()})"
    if not job.video_filter:
        return None
    if (counted := _frame_numbers_in(job.video_filter)) is not None:
        return (f"a --vf chain that counts frames ({counted}: the count restarts at 0 in each segment; "
                "give times in seconds instead, fade's st= and d=, t in expressions)")
    if retiming := [name for name in _filter_names(job.video_filter) if name in RETIMING_FILTERS]:
        return f"a --vf chain that changes the frames' times ({', '.join(retiming)}: each segment would be retimed from its own start)"
    index = read_packet_index(job.info.path)
    pts = sorted(index.pts)
    end = pts[VF_TRIAL_FRAMES] if len(pts) > VF_TRIAL_FRAMES else None
    whole, (frames_in, frames_out), times = _filtered_planes(job, None, end)
    if frames_in != frames_out:
        return f"filters that change the frame count (the --vf chain made {frames_out} frames of the first {frames_in})"
    scale = Fraction(job.info.time_base) / Fraction(job.filtered.time_base)
    while times and pts and index.keyframes and pts[0] < index.keyframes[0] and round(pts[0] * scale) < times[0]:
        pts.pop(0)  # before the first keyframe of a file cut mid-GOP: never decoded, in one run or a segment
    if times != [round(t * scale) for t in pts[:len(times)]]:
        return "a --vf chain that changes the frames' times (segments are cut and checked at the input's times)"
    cut = len(whole) // 2
    if cut <= reach:
        return None  # too short to cut
    resumed, _, _ = _filtered_planes(job, pts[cut - reach], end)
    if len(resumed) != len(whole) - cut + reach or any(
            not all(np.array_equal(a, b) for a, b in zip(planes, again)) for planes, again in zip(whole[cut:], resumed[reach:])):
        return (f"a --vf chain whose frames after a cut are not those of one run (it counts frames, or looks "
                f"back further than {reach} frames)")
    return None


FRAME_NUMBER = re.compile(r"(?<![\w.%\\])[nN](?![\w(.])|\b(?:start_frame|end_frame|nb_frames|frame_num)\b")
"""The frame counters of FFmpeg's expressions (n, N), and options that count frames."""
FRAME_COUNTING_FILTERS = ("framestep", "loop", "shuffleframes", "zoompan")
"""Filters that work by frame number whatever their options (zoompan's in and on count frames)."""
FILTER_NAME = re.compile(r"\s*(?:\[[^\]]*\]\s*)*([\w-]+)(?:@\w+)?")
"""A filter's name, after its input labels and without its instance name (fade@a)."""


def _frame_numbers_in(chain: str) -> str | None:
    """The part of a --vf chain that counts frames, or None: the trial of a few frames would miss
    what happens later in the video (fade=out:5000:24 there, select on n, drawtext's %{n})."""
    for part in _filters_of(chain):
        named = FILTER_NAME.match(part)
        name, arguments = (named.group(1), part[named.end():]) if named else ("", part)
        if name in FRAME_COUNTING_FILTERS:
            return f"{part.strip()!r} counts frames"
        if name == "fade" and not re.search(r"\b(?:d|duration)=", arguments):  # timed only with a duration
            return f"{part.strip()!r} fades by frame number"
        if name == "drawtext":  # its text is shown, not evaluated, but for %{...}; its files are paths
            found = re.search(r"%\{(?:n|frame_num|(?:expr|eif|e)[^}]*\bn\b[^}]*)\}", arguments) or FRAME_NUMBER.search(
                re.sub(r"\b(text|textfile|fontfile)=('[^']*'|[^:]*)", "", arguments))
        else:
            found = FRAME_NUMBER.search(arguments)
        if found:
            return f"{part.strip()!r} uses {found.group(0)}"
    return None


RETIMING_FILTERS = frozenset({"fps", "framerate", "setpts", "minterpolate", "tinterlace", "interlace", "telecine",
                              "mpdecimate", "decimate", "tpad", "trim"})
"""Filters that give frames other times (or drop and add them by time): the count over a trial's few
frames may hold where a segment's does not (fps=24 on 23.976 fps)."""


def _filter_names(chain: str) -> list[str]:
    return [named.group(1) for part in _filters_of(chain) if (named := FILTER_NAME.match(part))]


def _filters_of(chain: str) -> list[str]:
    """The filters of an FFmpeg filter chain, split at the commas outside quotes and brackets
    (select='not(mod(n,2))' is one filter)."""
    parts, current, quoted, depth, escaped = [], [], False, 0, False
    for char in chain:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    return [*parts, "".join(current)]


def _filtered_planes(
    job: Job, start_pts: int | None, end_pts: int | None,
) -> tuple[list[list[np.ndarray]], tuple[int, int], list[int]]:
    """The planes of each frame of the job's filters run on the frames from `start_pts` to before
    `end_pts` (chroma too: a chain may be temporal on chroma alone), (frames in, frames out), and
    each frame's pts (in the filtered time base)."""
    frame_filter = job.filters.frame_filter()
    filtered = job.filtered
    items = [item for item in read_items(
        job.info.path, job.layout, [], DecodeStats(), frame_duration(filtered), frame_filter=frame_filter,
        start_pts=start_pts, end_pts=end_pts, filtered_time_base=filtered.time_base) if isinstance(item, VideoItem)]
    frames = [[np.array(plane) for plane in item.planes] for item in items]
    counts = (frame_filter.frames_in, frame_filter.frames_out) if frame_filter is not None else (len(frames), len(frames))
    return frames, counts, [item.pts for item in items]


def _lock_work(work: Path) -> int | None:
    """Take the work folder's flock for as long as the job is open; OutputError when another live
    run holds it (two --resume runs of one job both ran every segment left, and the second to join
    removed the folder under the first). See lock_folder."""
    return lock_folder(work, f"another run is using the work folder {work}; wait for it to end, or stop it first")


def lock_folder(folder: Path, busy: str) -> int | None:
    """The descriptor of `folder` holding its flock (on the folder itself: its files come and go);
    OutputError `busy` when another live run holds it. None where the folder cannot be opened so;
    where its file system has no locks, the descriptor, holding nothing. Close it to let go."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise OutputError(f"cannot open the folder {folder}: {mux.system_reason(exc)}") from None
        return None
    if mux.try_lock(fd) is False:
        os.close(fd)
        raise OutputError(busy)
    return fd


def _close_quietly(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def holds_work(work: Path) -> bool:
    """Whether the folder `work` holds vsr's work files (a manifest, segments): a run's, to resume."""
    try:
        return work.is_dir() and any(WORK_FILE.fullmatch(entry.name) for entry in work.iterdir())
    except OSError:
        return False


def _finished(work: Path) -> bool:
    """Whether `work` holds a manifest whose every segment is done."""
    try:
        return not Manifest.load(work).pending
    except InputError:
        return False


def _open_work(
    work: Path, source: Path, options: UpscaleOptions, segment_seconds: float | None, resume: bool, workers: int,
) -> Manifest:
    """The manifest of the work folder: loaded and checked against the job with `resume` (a fresh
    one where there is no folder yet), else a new one in a new folder (an existing one refused).
    Only a new manifest reads the input's packet index to plan its segments (with the context
    around each that the multi-frame window and the temporal filters before it reach)."""
    if work.exists() and not work.is_dir():
        raise OutputError(f"the work folder {work} is a file; give --work-dir a folder")
    if holds_work(work):
        if not resume:
            if _finished(work):
                raise OutputError(f"the work folder {work} holds a run whose segments are all done (kept with --keep-work, "
                                  "or stopped while joining); pass --resume to join them, or remove it")
            raise OutputError(f"the work folder {work} exists (an unfinished run?); pass --resume to continue it, or remove it")
        return Manifest.load(work).for_job(source, options)
    index = read_packet_index(source)
    seconds = segment_seconds if segment_seconds is not None else default_segment_seconds(index, workers)
    window = check_frames(options.multi_frame.frames) if options.multi_frame.mode == "multi" else 0
    plan = plan_segments(index, seconds, context=window + options.filters.temporal_reach())
    made = not work.exists()
    try:  # a folder of the user's (even the output's own, other files in it) is used as it is
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the work folder {work}: {exc.strerror or exc}") from None
    manifest = Manifest.new(source, options, plan, made_folder=made)
    manifest.save(work)
    return manifest
