"""A folder of videos: `vsr upscale DIR --scale 2 -o OUTDIR`. Every video directly in DIR is
upscaled into OUTDIR under its own name (`<stem>.mkv` where vsr does not write its container):
one after another with the plain pipeline, or in segments (`--segment-seconds`, `--workers`: the
segments of all the files spread over one Ray cluster). A folder without videos is taken as a
folder of still images (scans, photos, exported frames), upscaled one by one.
A file that fails does not stop the others; an existing output is skipped unless `overwrite`.

    outcomes = upscale_folder(Path("tapes"), Path("tapes_x2"), options)
    for outcome in outcomes: print(outcome.line())
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vsr.errors import ConfigError, InputError, OutputError, VsrError
from vsr.files import fitting_name
from vsr.logquiet import quiet_here
from vsr.media import mux
from vsr.media.encode import DEFAULT_CODECS, choose_pix_fmt
from vsr.media.filterplan import plan_filters
from vsr.media.images import IMAGE_SUFFIXES
from vsr.media.probe import probe
from vsr.options import UpscaleOptions
from vsr.pipeline.run import Progress, check_still_options, upscale_video
from vsr.segments.run import (
    CallerStopped, Runner, SegmentedJob, SequentialRunner, default_work_dir, holds_work, passed_through, run_jobs,
    WORK_SUFFIX, lock_folder, whole_run,
)

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv", ".wmv",
    ".ogv", ".3gp", ".vob",
)
"""The files of a folder that are taken as videos (lower case); the rest are left alone."""


@dataclass(frozen=True)
class FileOutcome:
    """What became of one input: `state` "done" (with the frames written), "skipped" (its output
    exists) or "failed" (with the one-line reason)."""

    source: Path
    target: Path
    state: str
    detail: str = ""

    def line(self) -> str:
        """`done     a.mp4 → out/a.mp4 (240 frames)`, `skipped  b.mp4: ...`, `failed   c.mp4: ...`."""
        where = f"{self.source.name} → {self.target}" if self.state == "done" else self.source.name
        return f"{self.state:<8} {where}{': ' if self.state != 'done' else ' '}{self.detail}".rstrip()


def default_output_folder(folder: Path, scale: int) -> Path:
    """`<folder>_x<scale>` beside the input folder (`.` too: its name; a link's beside the link)."""
    folder = Path(os.path.abspath(folder))
    return folder.with_name(f"{folder.name}_x{scale}")


def folder_inputs(folder: Path) -> list[Path]:
    """The videos directly in `folder` (VIDEO_SUFFIXES; hidden files left out), sorted by name; where
    it holds none, its still images (IMAGE_SUFFIXES). InputError for a folder that cannot be listed
    or holds neither."""
    try:
        files = sorted(p for p in Path(folder).iterdir() if not p.name.startswith(".") and p.is_file())
    except OSError as exc:
        raise InputError(f"cannot list the folder {folder}: {exc.strerror or exc}") from None
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if videos and images:
        log.info("%d image(s) in %s left alone: a folder holding videos is upscaled video by video", len(images), folder)
    if not videos and not images:
        raise InputError(f"no video or image in {folder} (looked for {', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)})")
    return videos or images


def output_name(source: Path) -> str:
    """The name of `source`'s output: its own for an image or where vsr.media.mux writes its
    container, else `<stem>.mkv` (vsr.media.mux.written_suffix)."""
    return source.name if source.suffix.lower() in IMAGE_SUFFIXES else source.stem + mux.written_suffix(source.suffix)


def _claim_outputs(videos: list[Path], output: Path) -> dict[str, Path]:
    """The input each output name in `output` goes to (names as _claim_key folds them): where two
    inputs give one name (a.avi and a.mkv: a.mkv; a.mkv and A.MKV on a file system that ignores
    case, as macOS's and Windows' do), the input of that very name, else the first by name."""
    claimed: dict[str, Path] = {}
    for source in sorted(videos, key=lambda s: (output_name(s) != s.name, s.name)):
        claimed.setdefault(_claim_key(output_name(source)), source)
    return claimed


def _claim_key(name: str) -> str:
    """An output name as a file system that ignores case compares it (letter by letter: ß is not ss)."""
    return name.lower()


def upscale_folder(
    folder: Path, output: Path | None, options: UpscaleOptions, *, segment_seconds: float | None = None,
    runner: Runner | None = None, work_dir: Path | None = None, resume: bool = False, keep_work: bool = False,
    progress: Progress | None = None,
) -> list[FileOutcome]:
    """Upscale every video (or image) in `folder` (folder_inputs) into `output` (None: default_output_folder)
    under the same name (output_name), and say what became of each. An existing output is skipped
    unless options.run.overwrite; an input whose output another input already takes, or but for case (a.avi and
    a.mkv both give a.mkv) fails. In segments when `segment_seconds` or `runner` is given (on `runner`,
    default SequentialRunner; `segment_seconds` None: the default length), with each file's work
    folder in `work_dir`/<name>.vsr-work (default: beside its output); else with upscale_video,
    one file after another. `progress`: (frames done over all the files, their total or None).
    Raises VsrError for what stops every file (no video in the folder, an output folder that is the
    input folder or cannot be made); an interruption propagates, and the files finished stay."""
    folder = Path(folder)
    output = Path(output) if output is not None else default_output_folder(folder, options.model.scale)
    videos = folder_inputs(folder)
    if options.multi_frame.debug_dir is not None:  # every file's maps would go over the last one's
        raise ConfigError("--debug-dir writes one video's maps; run it on one file, not a folder")
    if output.suffix.lower() in {*mux.CONTAINERS, *IMAGE_SUFFIXES} and not output.is_dir():
        raise ConfigError(f"the input {folder} is a folder, so -o names the folder its outputs go in; "
                          f"{output.name} looks like a file name")
    if output.resolve() == folder.resolve():
        raise ConfigError(f"the output folder is the input folder {folder}; choose another with -o")
    segmented = segment_seconds is not None or runner is not None
    if videos[0].suffix.lower() in IMAGE_SUFFIXES:
        if segmented:
            raise ConfigError(f"{folder} holds still images, and segments are for videos; drop --segment-seconds/--workers")
        check_still_options(options, f"the still images of {folder}")
    made_output = not output.exists()
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {output}: {exc.strerror or exc}") from None
    outcomes: dict[Path, FileOutcome] = {}
    todo = []
    claimed = _claim_outputs(videos, output)
    for source in videos:
        target = output / output_name(source)
        if (owner := claimed[_claim_key(target.name)]) != source:
            why = f"its output would be {target.name}, as {owner.name}'s is (or differs only in case); rename one of them"
            outcomes[source] = FileOutcome(source, target, "failed", why)
        elif target.exists() and not options.run.overwrite:
            outcomes[source] = FileOutcome(source, target, "skipped", "the output exists (--overwrite replaces it)")
        else:
            todo.append((source, target))
    started = time.time()
    try:  # its files' work folders are judged once, not held: the output folder is
        held = lock_folder(output, f"another vsr run is upscaling a folder into {output}; wait for it to end, or stop "
                                   "it first") if segmented else None
    except OutputError:
        _remove_if_empty(output, made_output)
        raise
    try:
        with whole_run():
            if not segmented:
                outcomes.update(_one_by_one(todo, options, progress))
            else:
                outcomes.update(_in_segments(todo, options, segment_seconds, runner or SequentialRunner(), work_dir,
                                             resume, keep_work, progress))
    except CallerStopped as stopped:  # the caller's progress callback raised: its exception, not a file's failure
        _remove_if_empty(output, made_output)
        raise stopped.error from None
    except BaseException as exc:
        _remove_if_empty(output, made_output)
        if todo and not isinstance(exc, Exception):  # an interruption: say what is finished, and how to do the rest
            finished = sum(_written_since(target, started) for _, target in todo)
            exc.add_note(_how_to_go_on(finished, len(todo), output, options.run.overwrite, segmented))
        raise
    finally:
        if held is not None:
            os.close(held)
    _remove_if_empty(output, made_output)  # every file failed
    return [outcomes[source] for source in videos]


def _remove_if_empty(output: Path, made: bool) -> None:
    """Remove the output folder if this run made it and it holds nothing."""
    if made and output.is_dir() and not any(output.iterdir()):
        output.rmdir()


def _how_to_go_on(finished: int, files: int, output: Path, overwrite: bool, segmented: bool) -> str:
    """What an interrupted folder run says, on the interruption's line: what is done, how to do the rest."""
    again = "the same command again" + (" with --resume" if segmented else "")  # kept work takes --resume
    if not finished:
        return f"no file finished; {again} " + ("goes on from the segments done" if segmented else "starts over")
    done = f"{finished} of {files} file(s) finished, kept in {output}"
    if overwrite:  # without --overwrite the old outputs not yet redone would be skipped too
        return f"{done}; {again} does them all again"
    return f"{done}; {again} skips them and does the rest"


def _written_since(target: Path, started: float) -> bool:
    try:
        return target.stat().st_mtime >= started - 1  # a whole second of slack for coarse file-system clocks
    except OSError:
        return False


_named_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("vsr_named_file", default=None)
"""The file whose run this context is part of (its stage threads start in a copy of it)."""


@contextlib.contextmanager
def warnings_naming(source: Path) -> Iterator[None]:
    """Within: vsr's warnings of this run start with `source`'s name (`a.mp4: ...`), so that those of
    one file among many say which; in this thread and the stage threads it starts (they start in a
    copy of its context), not another thread's run (a program running two folders at once, or a
    video of its own beside one). A segmented folder run names the warnings of opening each file,
    not those of its segments, which run together."""
    def name_it(record: logging.LogRecord) -> bool:
        if _named_file.get() is source and record.name.startswith("vsr") and not getattr(record, "named_file", False):
            record.named_file = True
            if not record.getMessage().startswith(source.name):  # a line that names it already, once
                name = source.name.replace("%", "%%") if record.args else source.name
                record.msg = f"{name}: {record.msg}"
        return True

    handlers, logger = [], logging.getLogger("vsr")
    while logger is not None:
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    for handler in handlers:
        handler.addFilter(name_it)
    token = _named_file.set(source)
    try:
        yield
    finally:
        _named_file.reset(token)
        for handler in handlers:
            handler.removeFilter(name_it)


def _one_by_one(
    todo: list[tuple[Path, Path]], options: UpscaleOptions, progress: Progress | None,
) -> dict[Path, FileOutcome]:
    """Each file through upscale_video in turn; progress over all of them (total None where a
    file's frame count is not known up front)."""
    with quiet_here(plan_filters.__module__):  # what planning the filters warns of, each file's run says
        counts = [frames_out(source, target, options) for source, target in todo]
    total = sum(counts) if all(counts) else None  # type: ignore[arg-type]
    done = 0
    outcomes = {}
    for (source, target), count in zip(todo, counts):
        report = None if progress is None else passed_through(_offset(progress, done, total))
        try:
            with warnings_naming(source):
                result = upscale_video(source, target, options=options, progress=report)
        except Exception as exc:  # one file's failure (a bug too) does not stop the others
            message = str(exc) if isinstance(exc, VsrError) else f"{type(exc).__name__}: {exc}"
            log.warning("%s: %s", source.name, message)
            outcomes[source] = FileOutcome(source, target, "failed", message)
            done += count or 0
        else:
            outcomes[source] = FileOutcome(source, target, "done", f"({_frames(result.frames)})")
            done += result.frames
        if progress is not None:
            progress(done, total)
    if progress is not None and total is not None and done != total:
        progress(done, done)  # the total was an estimate (a Matroska file's count): the bar ends full
    return outcomes


def frames_out(source: Path, target: Path, options: UpscaleOptions) -> int | None:
    """The frames upscale_video writes for `source` into `target`: its frame count after the
    filters (one frame per field doubles it, inverse telecine drops one in five); None where it
    is not known up front or the filters cannot be planned (the run will say why); 1 for an image."""
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return 1
    try:
        info = probe(source)
        if info.frame_count is None or not (options.filters.ivtc or options.filters.deinterlace_rate == "field"):
            return info.frame_count
        codec = options.encode.codec or DEFAULT_CODECS[mux.container_format(target)]
        pix_fmt = choose_pix_fmt(codec, info.pix_fmt, options.encode.pix_fmt)
        return plan_filters(info, options.filters, pix_fmt).output.frame_count
    except VsrError:
        return None


def _in_segments(
    todo: list[tuple[Path, Path]], options: UpscaleOptions, segment_seconds: float | None, runner: Runner,
    work_dir: Path | None, resume: bool, keep_work: bool, progress: Progress | None,
) -> dict[Path, FileOutcome]:
    """Every file opened as a SegmentedJob (one that cannot be, failed), then all their segments
    on `runner` together, each file joined as soon as its segments are done."""
    outcomes: dict[Path, FileOutcome] = {}
    jobs: list[SegmentedJob] = []
    started = time.perf_counter()
    root = None if work_dir is None else Path(work_dir)
    made_root = root is not None and not root.exists()
    if todo:  # a cluster joined once, before the files: its line names none of them, and a dead one fails them all at once
        log.debug("%d segment(s) at a time", runner.workers)
    for source, target in todo:
        work = None if root is None else root / f"{fitting_name(source.name, len(WORK_SUFFIX))}{WORK_SUFFIX}"
        # --resume goes on where a file's work is kept; the others start, without a warning each
        resumes = resume and holds_work(work if work is not None else default_work_dir(target))
        try:
            with warnings_naming(source):
                jobs.append(SegmentedJob.open(source, target, options, segment_seconds=segment_seconds, work_dir=work,
                                              resume=resumes, keep_work=keep_work, runner=runner, lock=False))
        except VsrError as exc:
            log.warning("%s: %s", source.name, exc)
            outcomes[source] = FileOutcome(source, target, "failed", str(exc))
    if jobs:
        log.info("%d file(s), %d segment(s) to do", len(jobs), sum(len(job.todo()) for job in jobs))
    try:
        try:
            results = run_jobs(jobs, runner, progress, keep_going=True)
        except BaseException:  # an interruption: the work folders in which no segment finished go
            for job in jobs:
                job.discard_if_unstarted()
            raise
        for job, result in zip(jobs, results):
            if isinstance(result, VsrError):
                job.discard_if_unstarted()
                kept = f" (work folder kept: {job.work})" if job.work.exists() else ""
                outcomes[job.source] = FileOutcome(job.source, job.target, "failed", f"{result}{kept}")
            else:
                outcomes[job.source] = FileOutcome(job.source, job.target, "done", f"({_frames(result)})")
    finally:
        for job in jobs:
            job.close()
        if made_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # made for the files' work folders, which are gone
    log.debug("folder done in %.1f s", time.perf_counter() - started)
    return outcomes


def _frames(count: int) -> str:
    return f"{count} frame{'s' if count != 1 else ''}"


def _offset(progress: Progress, base: int, total: int | None) -> Progress:
    def report(written: int, _file_total: int | None) -> None:
        progress(base + written, total)

    return report

