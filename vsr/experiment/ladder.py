"""The grid, streamed: for each scale, one pass over the source that downscales every frame once and
feeds the encoders of all its rates; for each encode, one pass that decodes it beside the source,
runs every upscaler on each batch of frames and scores every result against the source frame.

Nothing holds more than a batch of frames: the per-frame scores go to a CSV per point as they are
made. Every file appears complete or not at all (vsr.files.atomic_path), so an
interrupted pass leaves no cache entry and is redone by the next run.
"""

from __future__ import annotations

import contextlib
import csv
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np

from vsr.errors import ConfigError, InputError, PipelineError
from vsr.experiment.cache import ExperimentDir
from vsr.experiment.crops import CropBox, choose_crop, write_png
from vsr.experiment.measure import PointScorer, frame_columns, pool_csv
from vsr.experiment.spec import PIX_FMT
from vsr.experiment.upscalers import Upscaler
from vsr.files import atomic_path
from vsr.logquiet import quiet_here
from vsr.media.decode import DecodeStats, read_items
from vsr.media.frames import Layout, VideoItem
from vsr.media.index import read_packet_index
from vsr.media.ladder import LadderEncoder
from vsr.media.probe import VideoInfo, frame_duration, probe
from vsr.options import EncodeOptions
from vsr.pipeline.upscale import fit_plane
from vsr.resample.matlab import imresize, to_uint8

LAYOUT = Layout(PIX_FMT)
MIN_SIDE = 16
"""The smallest rung side that is encoded (codecs and metrics need a few blocks)."""
CODEC_MIN_SIDE = {"libx265": 32}
"""Codecs that need more: libx265 corrupts its heap and aborts the process on frames under 32
rows (48x28, 40x24, 34x24, 48x16 measured; 48x32, 64x24 and 56x24 ran)."""
BITRATE_MIN_SIDE = {"libsvtav1": 64}
"""Codecs that need more in bitrate mode: SVT-AV1's rate control refuses a side under 64 pixels
("Adaptive quantization can not be turned OFF when RC ON"; 64x48, 48x64 and 160x62 refused)."""
SCORE_BATCH = 4
"""Frames per batch of a score pass when no model asks for more (bounds memory, not speed)."""

ProgressCallback = Callable[[int, int], None]


class Progress:
    """Work done over work to do, in frame-steps (a frame encoded at one rate, or scored for one
    upscaler), reported to `callback(done, total)`."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0

    def advance(self, steps: int) -> None:
        self.done += steps
        if self.callback is not None:
            self.callback(self.done, self.total)


@dataclass(frozen=True)
class Source:
    """The frames an experiment measures: `frames` frames of `info` from `start_pts` (None: from the
    first frame), at most `max_frames`; `duration`: their durations summed, in seconds (the
    denominator of every rate); `crop`: the square the crops show, or None; `to_end`: whether the
    range runs to the end of the video (whatever `max_frames` said)."""

    info: VideoInfo
    start_pts: int | None
    max_frames: int | None
    frames: int
    duration: float
    crop: CropBox | None
    to_end: bool = False
    heard: bool = False
    """Whether its passes say what the decoder warns of (the survey's, the first): the others would
    repeat it once an encode and a score pass (35 times for a small grid)."""

    def items(self) -> Iterator[VideoItem]:
        """The source's frames in the range, as 8-bit 4:2:0 planes (converted when stored otherwise)."""
        info = self.info
        items = read_items(info.path, LAYOUT, [], DecodeStats(), frame_duration(info), self.max_frames,
                           start_pts=self.start_pts)
        while True:  # quiet only while it decodes: not while suspended, when the thread reads a rung's file
            with contextlib.nullcontext() if self.heard else quiet_here(read_items.__module__):
                item = next(items, None)
            if item is None:
                return
            if isinstance(item, VideoItem):
                yield item


def start_pts_of(info: VideoInfo, start: float) -> int | None:
    """The pts (video time base) `start` seconds after the source's first frame, or None for
    start 0 (from the first frame). Seconds count from the first frame's presentation time (the
    smallest pts of the frames shown, vsr.media.index), not from pts 0: an MPEG-TS starts anywhere,
    and B-frame delay or an edit list moves an MP4's first pts off 0. Raises InputError for a start
    past the last frame."""
    if start <= 0:
        return None
    index = read_packet_index(info.path)
    first = index.pts[0] if index.pts else 0
    if index.pts and start > (index.pts[-1] - first) * info.time_base:
        raise InputError(f"{info.path} has no video frame from {start:g} s on: its last starts "
                         f"{float((index.pts[-1] - first) * info.time_base):g} s after its first")
    return first + round(start / info.time_base)


def survey(info: VideoInfo, start: float, max_frames: int | None, crop_size: int) -> Source:
    """Read the range (`start` seconds after the first frame, see start_pts_of) once to count its
    frames and their duration, and choose the crop square in its middle frame. Raises InputError
    when the range holds no frame.

    The duration runs from the first frame to the frame after the range; where the range ends with
    the video, it is the span of the timestamps plus one mean frame interval: frames' own durations
    are often the container's nominal one (Matroska's 1 ms ticks give 41 ms at 24 fps; a variable
    rate has none), which would put every rate off."""
    start_pts = start_pts_of(info, start)
    reach = Source(info, start_pts, None if max_frames is None else max_frames + 1, 0, 0.0, None, heard=True)
    count, first_pts, last_pts, duration, next_pts = 0, 0, 0, 0, None
    for item in reach.items():
        if max_frames is not None and count == max_frames:
            next_pts = item.pts
            break
        if count == 0:
            first_pts, duration = item.pts, item.duration
        count += 1
        last_pts = item.pts
    if count == 0:
        raise InputError(f"{info.path} has no video frame from {start:g} s on")
    if next_pts is not None:
        ticks = Fraction(next_pts - first_pts)
    elif count > 1 and last_pts > first_pts:
        ticks = Fraction(last_pts - first_pts) * count / (count - 1)
    else:
        ticks = Fraction(duration)
    source = Source(info, start_pts, max_frames, 0, 0.0, None)
    crop = None
    if crop_size:
        middle = count // 2
        for item in source.items():
            if item.index == middle:
                crop = choose_crop(item.planes[0], middle, crop_size)
                break
    return Source(info, start_pts, max_frames, count, float(ticks * info.time_base), crop, to_end=next_pts is None)


def rung_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """The encoded size at `scale`: the source size divided, rounded up, then up to what 4:2:0 needs."""
    return LAYOUT.even_size(math.ceil(width / scale), math.ceil(height / scale))


def check_rung_sizes(info: VideoInfo, scales: tuple[int, ...], codec: str, rate_mode: str = "crf") -> None:
    """ConfigError for a scale that makes a side of the source shorter than MIN_SIDE pixels (more
    for some codecs: CODEC_MIN_SIDE, and in bitrate mode BITRATE_MIN_SIDE)."""
    least = max(CODEC_MIN_SIDE.get(codec, MIN_SIDE), BITRATE_MIN_SIDE.get(codec, 0) if rate_mode == "bitrate" else 0)
    for scale in scales:
        width, height = math.ceil(info.width / scale), math.ceil(info.height / scale)
        if min(width, height) < least:
            mode = " with --bitrates" if least == BITRATE_MIN_SIDE.get(codec) and rate_mode == "bitrate" else ""
            needs = f" ({codec}{mode} needs {least})" if least != MIN_SIDE else ""
            raise ConfigError(
                f"scale {scale} makes the {info.width}x{info.height} source {width}x{height}, under {least} px{needs}; "
                "use smaller scales"
            )


def downscale(planes: list[np.ndarray], scale: int, width: int, height: int) -> list[np.ndarray]:
    """A frame's planes at the rung's size (width, height of the luma): MATLAB-style antialiased
    bicubic (vsr.resample.matlab.imresize) for scale > 1, rounded to 8 bits; scale 1 keeps the
    planes (a last row/column repeated where 4:2:0 needs even sides)."""
    sizes = LAYOUT.plane_sizes(width, height)
    if scale == 1:
        return [fit_plane(np.ascontiguousarray(p), w, h) for p, (w, h) in zip(planes, sizes)]
    return [to_uint8(imresize(p, 1.0 / scale, out_shape=(h, w))) for p, (w, h) in zip(planes, sizes)]


@dataclass(frozen=True)
class Rung:
    """One encode: `scale`, `rate` (a CRF, or bits/s in bitrate mode), its cache key."""

    scale: int
    rate: int
    key: str


def encode_options(codec: str, preset: str, rate_mode: str, rate: int) -> EncodeOptions:
    if rate_mode == "bitrate":
        return EncodeOptions(codec=codec, crf=None, preset=preset, pix_fmt=PIX_FMT, bitrate=rate)
    return EncodeOptions(codec=codec, crf=rate, preset=preset, pix_fmt=PIX_FMT)


def encode_rungs(folder: ExperimentDir, source: Source, scale: int, rungs: list[Rung], codec: str, preset: str,
                 rate_mode: str, progress: Progress) -> list[dict[str, Any]]:
    """Encode the rungs of one scale in one pass over the source and cache them; their records
    (bytes, kbps, seconds). Raises ConfigError when the encoder refuses the settings."""
    width, height = rung_size(source.info.width, source.info.height, scale)
    downscale_seconds, frames = 0.0, 0
    with contextlib.ExitStack() as stack:
        encoders = []
        for rung in rungs:
            temp = stack.enter_context(atomic_path(folder.encode_file(rung.key)))
            options = encode_options(codec, preset, rate_mode, rung.rate)
            encoders.append(stack.enter_context(LadderEncoder(temp, source.info, codec, options, LAYOUT, width, height)))
        for item in source.items():
            started = time.perf_counter()
            planes = downscale(item.planes, scale, width, height)
            downscale_seconds += time.perf_counter() - started
            for encoder in encoders:
                encoder.write_planes(planes, item)
            frames += 1
            progress.advance(len(encoders))
    records = []
    for rung, encoder in zip(rungs, encoders):
        record = {
            "key": rung.key, "codec": codec, "preset": preset, "scale": scale, "rate_mode": rate_mode,
            "rate": rung.rate, "width": width, "height": height, "frames": frames,
            "video_bytes": encoder.video_bytes, "duration_s": source.duration,
            "kbps": encoder.video_bytes * 8 / source.duration / 1000,
            "encode_seconds": encoder.seconds, "downscale_seconds": downscale_seconds / len(rungs),
        }
        folder.save_encode_record(rung.key, record)
        records.append(record)
    return records


@dataclass
class PointJob:
    """One point to score on a rung: its cache key, the upscaler's name and the upscaler (None for
    the direct encode at scale 1), and the seconds spent on it."""

    key: str
    name: str
    upscaler: Upscaler | None
    identity: dict[str, str] = field(default_factory=dict)
    upscale_seconds: float = 0.0
    metric_seconds: float = 0.0


def score_rung(folder: ExperimentDir, source: Source, encode: dict[str, Any], jobs: list[PointJob],
               metrics: tuple[str, ...], progress: Progress) -> list[dict[str, Any]]:
    """Decode one cached encode beside the source, run every job's upscaler on each batch of frames,
    score the results against the source's Y and cache each point (frames CSV and record).
    Returns the point records. Raises PipelineError when the encode decodes to another frame count."""
    width, height = source.info.width, source.info.height
    batch_size = max([SCORE_BATCH, *(j.upscaler.batch_size for j in jobs if j.upscaler is not None)])
    decode_seconds = 0.0
    columns = {"codec": encode["codec"], "scale": encode["scale"], "rate_mode": encode["rate_mode"], "rate": encode["rate"]}
    with contextlib.ExitStack() as stack:
        scorers = []
        for job in jobs:
            temp = stack.enter_context(atomic_path(folder.frames_file(job.key)))
            handle = stack.enter_context(open(temp, "w", newline=""))
            key = {**columns, "upscaler": job.name}
            csv.writer(handle).writerow(frame_columns(list(key), metrics))
            scorers.append(PointScorer(metrics, handle, key))
        pairs = _pairs(source, folder.encode_file(encode["key"]), encode)
        # per job, the (index, source Y) of frames fed to its upscaler and not yet given back
        waiting: list[deque[tuple[int, np.ndarray]]] = [deque() for _ in jobs]

        def score(job: PointJob, scorer: PointScorer, queue: deque[tuple[int, np.ndarray]],
                  results: list[np.ndarray]) -> None:
            started = time.perf_counter()
            for result in results:
                index, reference = queue.popleft()
                result = result[:height, :width]
                scorer.add(index, reference, result)
                crop = source.crop
                if crop is not None and index == crop.frame:
                    write_png(folder.crop_file(crop_tile_key(folder, job.key, crop)), crop.cut(result))
                    _save_source_crop(folder, crop, reference)
            job.metric_seconds += time.perf_counter() - started

        while True:
            started = time.perf_counter()
            batch = [pair for _, pair in zip(range(batch_size), pairs)]
            decode_seconds += time.perf_counter() - started
            if not batch:
                break
            lows = [low for _, _, low in batch]
            for job, scorer, queue in zip(jobs, scorers, waiting):
                queue.extend((index, reference) for index, reference, _ in batch)
                started = time.perf_counter()
                results = job.upscaler.feed(lows) if job.upscaler is not None else lows
                job.upscale_seconds += time.perf_counter() - started
                score(job, scorer, queue, results)
                progress.advance(len(batch))
        for job, scorer, queue in zip(jobs, scorers, waiting):
            if job.upscaler is not None:
                started = time.perf_counter()
                results = job.upscaler.flush()
                job.upscale_seconds += time.perf_counter() - started
                score(job, scorer, queue, results)
            assert not queue, "every frame fed is scored"
        counts = [scorer.finish() for scorer in scorers]
    records = []
    for job, frames in zip(jobs, counts):
        record = {
            "key": job.key, "encode_key": encode["key"], **columns, "upscaler": job.name,
            "upscaler_identity": job.identity, "lr_width": encode["width"], "lr_height": encode["height"],
            "frames": frames, "video_bytes": encode["video_bytes"], "duration_s": encode["duration_s"],
            "kbps": encode["kbps"], "metrics": pool_csv(folder.frames_file(job.key), metrics),
            "encode_seconds": encode["encode_seconds"], "downscale_seconds": encode["downscale_seconds"],
            "decode_seconds": decode_seconds / len(jobs), "upscale_seconds": job.upscale_seconds,
            "metric_seconds": job.metric_seconds,
        }
        folder.save_point_record(job.key, record)
        records.append(record)
    return records


def source_crop_key(folder: ExperimentDir, crop: CropBox) -> str:
    """The cache key of the source's crop tile for the crop box `crop`."""
    return crop_tile_key(folder, "source", crop)


def crop_tile_key(folder: ExperimentDir, point_key: str, crop: CropBox) -> str:
    """The cache key of point `point_key`'s crop tile for the crop box `crop`: a run with another
    crop size (or another range, so another box) looks for other tiles, never mixes regions."""
    return folder.point_key({"crop": point_key, "frame": crop.frame, "x": crop.x, "y": crop.y, "size": crop.size})


def missing_crop_tiles(folder: ExperimentDir, source: Source, jobs: list[PointJob]) -> list[PointJob]:
    """The jobs whose crop tile for the source's crop box is not in the cache (none without crops)."""
    crop = source.crop
    if crop is None:
        return []
    return [j for j in jobs if not folder.crop_file(crop_tile_key(folder, j.key, crop)).is_file()]


def cut_crop_tiles(folder: ExperimentDir, source: Source, encode: dict[str, Any], jobs: list[PointJob]) -> None:
    """Make the crop tiles of `jobs` (points of one cached encode, scored with another crop box):
    decode the encode beside the source up to the crop frame (and the later neighbours a multi-frame
    upscaler's window takes) and upscale that frame."""
    crop = source.crop
    if crop is None or not jobs:
        return
    width, height = source.info.width, source.info.height
    radius = max([0, *(j.upscaler.radius for j in jobs if j.upscaler is not None)])
    window: list[np.ndarray] = []  # the decoded frames crop.frame − radius … crop.frame + radius
    pairs = _pairs(source, folder.encode_file(encode["key"]), encode)
    try:
        for index, reference, low in pairs:
            if index == crop.frame:
                _save_source_crop(folder, crop, reference)
            if index >= crop.frame - radius:
                window.append(low)
            if index >= crop.frame + radius:
                break
    finally:
        pairs.close()
    centre = min(crop.frame, radius)  # the crop frame's place in the window
    for job in jobs:
        result = window[centre]
        if job.upscaler is not None:
            # the crop frame's window as a short clip of its own: the same result as in the whole stream
            reach = job.upscaler.radius
            first = centre - min(crop.frame, reach)
            results = job.upscaler.feed(window[first:centre + reach + 1]) + job.upscaler.flush()
            result = results[centre - first]
        write_png(folder.crop_file(crop_tile_key(folder, job.key, crop)), crop.cut(result[:height, :width]))


def _save_source_crop(folder: ExperimentDir, crop: CropBox, reference: np.ndarray) -> None:
    path = folder.crop_file(source_crop_key(folder, crop))
    if not path.is_file():
        write_png(path, crop.cut(reference))


def _pairs(source: Source, encoded: Path, encode: dict[str, Any]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(index, source Y, decoded rung Y) of every frame, in order. PipelineError when the rung
    decodes to another number of frames than the source range holds."""
    duration = frame_duration(probe(encoded))
    decoded = (item for item in read_items(encoded, LAYOUT, [], DecodeStats(), duration) if isinstance(item, VideoItem))
    index = -1
    for index, (ref, low) in enumerate(zip_longest(source.items(), decoded)):
        if ref is None or low is None:
            raise PipelineError(
                "score", f"the x{encode['scale']} encode at {encode['rate_mode']} {encode['rate']} does not decode to "
                f"the source's {source.frames} frames (frame {index} is missing on one side)"
            )
        yield index, np.array(ref.planes[0]), np.array(low.planes[0])
    if index + 1 != source.frames:
        raise PipelineError("score", f"the source range gave {index + 1} frames, {source.frames} when surveyed")

