"""The output container. Video packets from the encoder, the other streams copied as
they are (audio re-encoded only where the container cannot hold its codec), and the file written
under a temporary name beside the target and renamed only when complete."""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer

from vsr.errors import ConfigError, InputError, OutputError
from vsr.files import fitting_name
from vsr.media.frames import Passthrough
from vsr.media.probe import file_url, first_video_stream, is_cover_art

log = logging.getLogger(__name__)

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
FALLBACK_SUFFIX = ".mkv"
"""The container of an output whose input's container vsr does not write (.avi, .ts, .mpg, ...)."""
AUDIO_FALLBACK = {"webm": "libopus"}
"""Audio encoder used where the container cannot hold the input's audio codec (default: aac)."""
UNPLAYABLE_AUDIO = {("mp4", "vorbis"): "not in a standard way: browsers and Apple's players would play no sound"}
"""Audio FFmpeg's muxer writes but players do not read there (Vorbis under MP4's private object
type 0xDD): re-encoded like audio the container cannot hold, with the reason."""
SUBTITLE_FALLBACK = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "ass"}
"""Subtitle encoder for text subtitles (SubRip, ASS, ...) the container cannot hold as they are."""
CONTAINER_OPTIONS = {"matroska": {"avoid_negative_ts": "disabled"}, "webm": {"avoid_negative_ts": "disabled"}}
"""Muxer options per format. Matroska holds a stream that starts before 0 (MP3 or AAC with its
encoder delay), but FFmpeg's default for it shifts every stream by that much, or not, depending
on which packet comes first; mp4 and mov keep such a start in an edit list by themselves."""
PARTIAL_CREATION_GRACE_SECONDS = 2.0
"""An unlocked partial file this young whose writer's pid is alive is being created, not stale."""


def container_format(path: Path) -> str:
    """The FFmpeg muxer for `path`'s extension ("mp4", "matroska", "mov", "webm"); OutputError for another."""
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        if path.suffix:
            raise OutputError(f"vsr does not write {path.suffix} video; use one of {', '.join(CONTAINERS)}") from None
        raise OutputError(f"cannot tell the output container from {path.name!r}, which has no extension and is no "
                          f"folder: give a file name ending in one of {', '.join(CONTAINERS)}, or a folder that exists") from None


def written_suffix(suffix: str) -> str:
    """`suffix` where vsr writes that container, else FALLBACK_SUFFIX (Matroska holds whatever the input held)."""
    return suffix if suffix.lower() in CONTAINERS else FALLBACK_SUFFIX


PARTIAL_EXTRA = len(".") + len(".vsr-") + 7 + len("-") + 8 + len(".partial")
"""What a partial's name adds to the target's stem and suffix (a pid of up to 7 digits)."""


def temp_path_for(target: Path) -> Path:
    """A hidden temporary name in the target's folder, with the same extension and this process's
    id: `.{stem}.vsr-{pid}-{8 hex digits}.partial{suffix}` (the stem cut and marked where a long
    name, legal itself, would make it too long: vsr.files.fitting_name)."""
    return target.with_name(f".{_partial_stem(target)}.vsr-{os.getpid()}-{secrets.token_hex(4)}.partial{target.suffix}")


def _partial_stem(target: Path) -> str:
    """The target's stem as its partials' names hold it."""
    return fitting_name(target.stem, PARTIAL_EXTRA + len(os.fsencode(target.suffix)))


@contextlib.contextmanager
def reserve_output(target: Path) -> Iterator[Path]:
    """Claim `target` for this run, before any work: remove the partial files that interrupted runs
    left for it (one info line), refuse at once if another live run is writing it, and create
    this run's partial file, locked until the block ends. Yields the partial's path; it is removed
    at the end unless it was committed (renamed onto `target`) meanwhile.

    The lock is an flock on a descriptor held for the whole run: the kernel drops it when the
    process dies, even by SIGKILL, and it stays put while PyAV opens, writes and closes the same
    file through descriptors of its own (a POSIX fcntl lock would be dropped by their close).
    Raises OutputError when another run is writing `target` or the partial cannot be created
    (the reason as the system gives it: "read-only file system", "permission denied", ...)."""
    removed = remove_stale_partials(target)
    if removed:
        log.info("removed %d stale partial file(s) of %s from interrupted runs", removed, target)
    temp = temp_path_for(target)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot create the output file in {target.parent} ({system_reason(exc)})") from None
    try:
        _lock_new_partial(fd, temp)
        yield temp
    finally:
        remove_quietly(temp)
        os.close(fd)


def _lock_new_partial(fd: int, temp: Path) -> None:
    """Take the new partial's lock. Another run's sweep (remove_stale_partials) may hold it for an
    instant, to judge it: without this wait the partial went unlocked for the whole run, and a
    later run's sweep could take it for stale and remove it under this one."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while try_lock(fd) is False:
        if time.monotonic() > deadline:
            raise OutputError(f"cannot lock the new partial file {temp}: another process holds it")
        time.sleep(0.01)


LOCK_WAIT_SECONDS = 2.0
"""How long a new partial file's lock is waited for (another run's sweep holds it for well under a millisecond)."""


def remove_stale_partials(target: Path) -> int:
    """Remove the partial files of `target` (vsr's own naming, for this target only) whose writer
    is gone, and return how many. A partial is in use while its lock is held; with its lock free
    it is stale unless its writer's pid is alive and the file is younger than
    PARTIAL_CREATION_GRACE_SECONDS (the instant between its creation and its locking). Where the
    file system has no locks, a live pid alone counts as in use.
    Raises OutputError when one is in use: another vsr run is writing `target`."""
    removed = 0
    for path, pid in _partials_of(target):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # gone meanwhile, a symlink, or unreadable: not ours to judge
            continue
        try:
            if _in_use(fd, pid):
                raise OutputError(
                    f"another vsr run (pid {pid}) is writing {target}; wait for it to end or choose another path with -o"
                )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        finally:
            os.close(fd)
    return removed


def _partials_of(target: Path) -> list[tuple[Path, int]]:
    """(path, writer pid) of each file in target's folder named as temp_path_for names target's partials."""
    pattern = re.compile(
        rf"\.{re.escape(_partial_stem(target))}\.vsr-(\d+)-[0-9a-f]{{8}}\.partial{re.escape(target.suffix)}"
    )
    try:
        names = os.listdir(target.parent)
    except OSError:  # a missing or unreadable folder: check_output_path and the creation report it
        return []
    return sorted(
        (target.parent / name, int(match.group(1))) for name in names if (match := pattern.fullmatch(name))
    )


def _in_use(fd: int, pid: int) -> bool:
    """Whether the partial file open at `fd`, named with writer `pid`, belongs to a live run
    (the rule of remove_stale_partials). Takes its lock when free, so a stale one can be removed."""
    locked = try_lock(fd)
    if locked is False:
        return True
    if not _pid_alive(pid):
        return False
    return locked is None or time.time() - os.fstat(fd).st_mtime < PARTIAL_CREATION_GRACE_SECONDS


def try_lock(fd: int) -> bool | None:
    """Take the exclusive flock of `fd` without waiting: True if taken, False if another open file
    holds it, None if the file system has no locks."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK / EOPNOTSUPP: some network and FUSE file systems
        return None
    return True


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (any owner)."""
    if pid <= 0:  # os.kill(0, ...) would address our own process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def system_reason(exc: OSError) -> str:
    """The system's wording of an OSError, in lower case: "read-only file system", "permission denied"."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def check_output_path(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse to write over the input, over an existing file without `overwrite`, or into a missing/unwritable folder."""
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise OutputError(f"the output {target} is the input itself; choose another path with -o")
    if target.is_dir():
        raise OutputError(f"the output {target} is a folder; give a file name with -o")
    if os.path.lexists(target) and not overwrite:  # a link, even one to nothing, is the user's
        raise OutputError(f"{target} exists; pass --overwrite to replace it or choose another path with -o")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"the output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to the output folder {folder} ({_why_unwritable(folder)})")


def _why_unwritable(folder: Path) -> str:
    """Why os.access refused to let us write to `folder`: its file system is mounted read-only, or permissions."""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return "read-only file system" if read_only else "permission denied"


def commit_output(temp: Path, target: Path, overwrite: bool) -> None:
    """Move the finished temporary file onto the target name."""
    if os.path.lexists(target) and not overwrite:
        raise OutputError(f"{target} appeared while upscaling; pass --overwrite to replace it")
    try:
        os.replace(temp, target)
    except OSError as exc:
        moved = " (was its folder moved or removed during the run?)" if not target.parent.is_dir() else ""
        raise OutputError(f"cannot put the finished output at {target}: {system_reason(exc)}{moved}") from None


def open_output(temp: Path, container: str, *, exact_time_base: Fraction | None = None) -> OutputContainer:
    """A new output file at `temp` in the FFmpeg format `container`; OutputError when it cannot be created.

    exact_time_base: for MP4/MOV, the movie timescale its edit lists are written in (default
    1/1000): a file whose first frame is not at 0 (a segment) then reads back with exactly the
    timestamps it was given rather than ones rounded to the millisecond."""
    options = dict(CONTAINER_OPTIONS.get(container, {}))
    if exact_time_base is not None and container in ("mp4", "mov"):
        options["movie_timescale"] = str(exact_time_base.denominator)
    try:
        return av.open(file_url(temp), "w", format=container, container_options=options)
    except (OSError, av.FFmpegError) as exc:
        raise OutputError(f"cannot create the output file in {temp.parent}: {exc}") from None


def close_quietly(output: OutputContainer) -> None:
    """Close an output after a failure, ignoring its errors (the file is about to be removed)."""
    try:
        output.close()
    except Exception:  # the run has already failed; the file is about to be removed
        pass


def remove_quietly(path: Path) -> None:
    """Remove `path` if it is there; a failure to remove it is a warning, not an error."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the temporary file %s: %s", path, exc)


DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
"""FFmpeg's default layout for a number of channels (av_channel_layout_default), for audio whose
layout names no channels ("2 channels": PCM from AVI or Matroska), which AAC and Opus refuse."""


NATIVE_LAYOUTS = ("mono", "stereo", "2.1", "3.0", "3.0(back)", "4.0", "quad", "quad(side)", "3.1", "5.0", "5.0(side)",
                  "4.1", "5.1", "5.1(side)", "6.0", "6.0(front)", "hexagonal", "6.1", "6.1(back)", "6.1(front)", "7.0",
                  "7.0(front)", "7.1", "7.1(wide)", "7.1(wide-side)", "octagonal")
"""FFmpeg's named layouts, each in its native channel order."""


def ordered_layout(layout: av.AudioLayout) -> av.AudioLayout:
    """`layout` in a native channel order: where its order is its own (a MOV's channel atom:
    FFmpeg names it "7 channels (FL+FR+…)", and an encoder opened on it crashes the process), the
    named layout of the same channels; where it names no channels ("2 channels": PCM from AVI or
    Matroska, which AAC and Opus refuse), or no named layout holds its channels, the default one of
    its channel count."""
    if not layout.name.startswith(f"{layout.nb_channels} channels"):
        return layout
    channels = sorted(channel.name for channel in layout.channels)
    same = next((name for name in NATIVE_LAYOUTS if sorted(c.name for c in av.AudioLayout(name).channels) == channels), None)
    if same is not None:
        return av.AudioLayout(same)
    return av.AudioLayout(DEFAULT_LAYOUTS[layout.nb_channels]) if layout.nb_channels in DEFAULT_LAYOUTS else layout


LAYOUTS_OF = {3: ("3.0", "2.1"), 4: ("quad", "4.0"), 5: ("5.0", "5.0(side)"), 6: ("5.1", "5.1(side)"),
              7: ("6.1", "6.1(back)"), 8: ("7.1", "7.1(wide)")}
"""The usual channel orders of each number of channels, the one Vorbis and Opus take first."""


def encodable_layout(codec: str, rate: int, sample_format: str, layout: av.AudioLayout, index: int) -> av.AudioLayout:
    """`layout`, or where `codec`'s encoder refuses it (libopus takes only Vorbis's orders: 5.1 with
    back channels, not AC-3's 5.1(side)), the first of as many channels it takes, else stereo,
    with a warning: the resampler remixes into it, as FFmpeg's command line does (side channels
    into back ones). An encoder that takes none of them is left to say why when it opens."""
    names = (layout.name, *LAYOUTS_OF.get(layout.nb_channels, ()), "stereo")
    for name in dict.fromkeys(names):
        candidate = av.AudioLayout(name)
        if _encoder_opens(codec, rate, sample_format, candidate):
            if candidate.name != layout.name:
                log.warning("audio stream #%d: %s takes no %s audio: remixed to %s", index, codec, layout.name, candidate.name)
            return candidate
    return layout


def _encoder_opens(codec: str, rate: int, sample_format: str, layout: av.AudioLayout) -> bool:
    trial = av.codec.CodecContext.create(codec, "w")
    trial.sample_rate, trial.format, trial.layout, trial.time_base = rate, sample_format, layout, Fraction(1, rate)
    try:
        trial.open()
    except (av.FFmpegError, ValueError):
        return False
    return True


class AudioTranscoder:
    """Decode → resample → encode for an audio stream whose codec the output container cannot hold."""

    def __init__(self, output: OutputContainer, source: av.audio.stream.AudioStream, codec: str) -> None:
        self.decoder = source.codec_context
        rate = self.decoder.sample_rate
        encoder_codec = av.codec.Codec(codec, "w")
        if encoder_codec.audio_rates and rate not in encoder_codec.audio_rates:
            rate = 48000
        self.stream = output.add_stream(codec, rate=rate)
        sample_format = encoder_codec.audio_formats[0].name
        layout = encodable_layout(codec, rate, sample_format, ordered_layout(self.decoder.layout), source.index)
        self.stream.layout = layout
        self.stream.format = sample_format
        _describe_like(self.stream, source)
        self.resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = self.decoder.decode(packet)
        resampled = [r for frame in frames for r in self.resampler.resample(frame)]
        if packet is None:
            resampled += self.resampler.resample(None)
        encoded = [p for frame in resampled for p in self.stream.encode(frame)]
        if packet is None:
            encoded += self.stream.encode(None)
        return encoded


class SubtitleTranscoder:
    """Decode → encode for text subtitles whose codec the output container cannot hold (SubRip or
    ASS into MP4's mov_text or WebM's WebVTT, mov_text into Matroska's ASS, as FFmpeg's command
    line converts them): the text,
    its timing and the styling the target format has (italics, bold) are kept; ASS positions and
    fonts are not."""

    def __init__(self, output: OutputContainer, source: av.subtitles.stream.SubtitleStream, codec: str) -> None:
        self.decoder = source.codec_context
        if not self.decoder.is_open:
            self.decoder.open()  # makes its ASS header, which the encoder starts from
        self.stream = output.add_stream(codec)
        self.stream.codec_context.subtitle_header = self.decoder.subtitle_header
        self.stream.codec_context.time_base = source.time_base
        _describe_like(self.stream, source)
        self.ends_at_next = codec == "mov_text"
        """MOV's text track shows one event at a time and starts each after the previous one ends:
        an event that overlapped the next would push every later one back. So each is held until
        the next comes and cut to end when it starts."""
        self._held: av.Packet | None = None

    @staticmethod
    def converts(source: av.subtitles.stream.SubtitleStream, codec: str) -> bool:
        """Whether `source`'s subtitles are text FFmpeg decodes and `codec` can encode from them
        (bitmap subtitles, DVD's or Blu-ray's, cannot become text)."""
        context = source.codec_context
        if context is None or not context.codec.text_sub:
            return False
        try:
            if not context.is_open:
                context.open()
            trial = av.codec.CodecContext.create(codec, "w")
            trial.subtitle_header, trial.time_base = context.subtitle_header, source.time_base
            trial.open()
            return True
        except (av.FFmpegError, ValueError):
            return False

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        if packet is None:
            held, self._held = self._held, None
            return [held] if held is not None else []
        subtitle = self.decoder.decode2(packet)
        encoded = self.stream.codec_context.encode_subtitle(subtitle) if subtitle is not None else None
        if encoded is None:
            return []
        encoded.pts, encoded.dts, encoded.duration = packet.pts, packet.pts, packet.duration
        encoded.time_base, encoded.stream = packet.time_base, self.stream
        if not self.ends_at_next:
            return [encoded]
        held, self._held = self._held, encoded
        if held is None:
            return []
        if held.pts is not None and encoded.pts is not None and held.duration and held.pts + held.duration > encoded.pts:
            held.duration = max(0, round((encoded.pts * encoded.time_base - held.pts * held.time_base) / held.time_base))
        return [held]


@dataclass
class StreamMap:
    """What happens to each non-video input stream."""

    copied: dict[int, av.stream.Stream] = field(default_factory=dict)
    transcoded: dict[int, AudioTranscoder | SubtitleTranscoder] = field(default_factory=dict)

    @property
    def kept(self) -> list[int]:
        return sorted([*self.copied, *self.transcoded])


def map_streams(
    source: av.container.InputContainer,
    output: OutputContainer,
    fmt: str,
    add_video: Callable[[], av.video.stream.VideoStream],
    *,
    video_only: bool = False,
) -> tuple[av.video.stream.VideoStream, StreamMap]:
    """The output's streams in the input's order: the upscaled video (made by `add_video`) where the
    first video stream was; every audio and subtitle stream the container can hold copied; audio
    and text subtitles it cannot hold transcoded; cover art kept where the container holds it;
    the rest dropped with a warning. `video_only`: the other streams are
    left out, silently (a segment file of vsr.segments)."""
    mapping = StreamMap()
    supported = output.supported_codecs
    main_video = first_video_stream(source, Path(source.name))
    video = None
    for stream in source.streams:
        if stream.type == "video":
            if stream.index == main_video.index:
                video = add_video()
                _describe_like(video, stream, VIDEO_TAGS if _same_rate(video, stream) else STREAM_TAGS)
            elif is_cover_art(stream):
                if not video_only:
                    _keep_cover_art(source, output, fmt, stream, mapping)
            elif not video_only:
                log.warning("dropping extra video stream #%d (only the first video stream is upscaled)", stream.index)
            continue
        if video_only:
            continue
        codec = stream.codec_context.name if stream.codec_context else None
        if stream.type == "audio" and not _audio_parameters_known(stream):
            log.warning("dropping audio stream #%d (%s): its header gives no sample rate or channels (damaged?)",
                        stream.index, codec)
        elif stream.type == "audio":
            unplayable = UNPLAYABLE_AUDIO.get((fmt, codec))
            if codec in supported and not unplayable and _container_takes(fmt, stream):
                mapping.copied[stream.index] = _copy_of(output, stream)
            else:
                fallback = AUDIO_FALLBACK.get(fmt, "aac")
                why = f" ({unplayable})" if unplayable else ""
                log.warning("%s cannot hold %s audio%s (stream #%d): re-encoding it as %s", fmt, codec, why, stream.index, fallback)
                mapping.transcoded[stream.index] = AudioTranscoder(output, stream, fallback)
        elif stream.type == "subtitle" and codec in supported and _container_takes(fmt, stream):
            mapping.copied[stream.index] = _copy_of(output, stream)
        elif stream.type == "subtitle" and fmt in SUBTITLE_FALLBACK and SubtitleTranscoder.converts(stream, SUBTITLE_FALLBACK[fmt]):
            log.warning("%s cannot hold %s subtitles (stream #%d): converting them to %s (text and timing kept, "
                        "not positions or fonts)", fmt, codec, stream.index, SUBTITLE_FALLBACK[fmt])
            mapping.transcoded[stream.index] = SubtitleTranscoder(output, stream, SUBTITLE_FALLBACK[fmt])
        elif _is_chapter_track(source, stream):
            log.debug("stream #%d is the input's chapter track: its chapters are copied as chapters", stream.index)
        elif stream.type == "data" and timecode_of(stream) and timecode_of(main_video):
            log.debug("stream #%d is the input's timecode track: the video stream's timecode tag makes it anew", stream.index)
        elif stream.type == "attachment":
            _attach(output, fmt, stream)
        elif stream.type == "subtitle":
            log.warning("dropping subtitle stream #%d (%s): the %s container cannot hold it%s", stream.index, codec, fmt,
                        "" if fmt == "matroska" else " (try .mkv)")
        else:
            log.warning("dropping %s stream #%d (%s): vsr copies audio, subtitles and attachments only",
                        stream.type, stream.index, codec or stream.metadata.get("handler_name", "no codec"))
    assert video is not None
    return video, mapping


def _same_rate(video: av.video.stream.VideoStream, source: av.video.stream.VideoStream) -> bool:
    """Whether the output video runs at the input's frame rate; a timecode, which counts the
    input's frames, is left out with a warning where it does not (inverse telecine, one frame per field)."""
    rate, source_rate = video.codec_context.framerate, source.average_rate
    if not rate or not source_rate or rate == source_rate:
        return True
    if timecode := timecode_of(source):
        log.warning("the input's timecode (%s) is not kept: it counts frames at %s fps, the output runs at %s",
                    timecode, f"{float(source_rate):g}", f"{float(rate):g}")
    return False


MILLISECOND_CONTAINERS = {"matroska": "Matroska", "webm": "WebM"}
"""Containers that store times in milliseconds."""


def check_time_precision(container: str, frame_rate: Fraction | None) -> None:
    """ConfigError where `container` stores times too coarsely for frames at `frame_rate`: above
    1000 fps Matroska's milliseconds give frames the same timestamp (players and a later run drop them)."""
    if container in MILLISECOND_CONTAINERS and frame_rate and frame_rate > 1000:
        raise ConfigError(f"the video runs at {float(frame_rate):g} fps, but {MILLISECOND_CONTAINERS[container]} stores times "
                          "in milliseconds: frames would share timestamps; write .mp4 or .mov")


def timecode_of(stream: av.stream.Stream) -> str | None:
    """The stream's timecode tag, whatever its case (Matroska's reads back as "TIMECODE")."""
    return next((value for key, value in stream.metadata.items() if key.lower() == "timecode"), None)


def _attach(output: OutputContainer, fmt: str, stream: av.stream.Stream) -> None:
    """Copy an attachment (a font that styled subtitles need, cover art) where the container holds
    attachments (Matroska), else drop it with a warning."""
    name = stream.metadata.get("filename") or getattr(stream, "name", None) or f"attachment #{stream.index}"
    data = getattr(stream, "data", None)
    if fmt != "matroska" or not data:
        log.warning("dropping attachment stream #%d (%s): the %s container holds no attachments (try .mkv)",
                    stream.index, name, fmt)
        return
    output.add_attachment(name, stream.metadata.get("mimetype") or "application/octet-stream", bytes(data))


COVER_ART_TYPES = {"mjpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png"), "bmp": ("bmp", "image/bmp"),
                   "webp": ("webp", "image/webp"), "gif": ("gif", "image/gif")}
"""Cover art codecs: the file name suffix and MIME type of a Matroska attachment made of one."""


def _keep_cover_art(
    source: av.container.InputContainer, output: OutputContainer, fmt: str, stream: av.stream.Stream, mapping: StreamMap,
) -> None:
    """Keep a cover picture: MP4 holds it as a cover stream (its packet is copied with the others;
    FFmpeg's MOV muxer writes none), Matroska as an attachment (read now); elsewhere it is
    dropped with a warning."""
    codec = stream.codec_context.name if stream.codec_context else None
    if fmt == "mp4" and codec in ("mjpeg", "png", "bmp") and _container_takes(fmt, stream):
        mapping.copied[stream.index] = _copy_of(output, stream)
    elif fmt == "matroska" and codec in COVER_ART_TYPES and (picture := _cover_picture(source, stream)):
        suffix, mimetype = COVER_ART_TYPES[codec]
        name = stream.metadata.get("filename") or f"cover.{suffix}"
        output.add_attachment(name, stream.metadata.get("mimetype") or mimetype, picture)
    else:
        log.warning("dropping the cover art (stream #%d, %s): the %s container cannot hold it%s",
                    stream.index, codec, fmt, "" if fmt == "matroska" else " (try .mkv)")


def _cover_picture(source: av.container.InputContainer, stream: av.stream.Stream) -> bytes | None:
    """The encoded picture of cover stream `stream`, read from a second opening of the file (the
    source's own position stays where it is); None where there is none."""
    with av.open(source.name) as again:
        for packet in again.demux(again.streams[stream.index]):
            if packet.size:
                return bytes(packet)
    return None


def _is_chapter_track(source: av.container.InputContainer, stream: av.stream.Stream) -> bool:
    """Whether `stream` is the text track in which an MP4/MOV file keeps its chapters (FFmpeg
    reads them into the chapter list and shows the track as a data stream without a codec)."""
    return (
        stream.type == "data" and stream.codec_context is None and "mov" in source.format.name.split(",")
        and len(source.chapters()) > 0
    )


def _container_takes(fmt: str, stream: av.stream.Stream) -> bool:
    """Whether FFmpeg's `fmt` muxer writes a file with a copy of `stream` (an input's audio or
    subtitles, or the output's own video stream, its encoder open): its list of supported
    codecs is wider than what it writes (Opus and FLAC are listed for MOV, whose muxer refuses
    them), so a header is written to memory to find out; for PCM, a packet of silence and the
    trailer too (MP4 refuses PCM whose channel layout gives no order, "2 channels", only there)."""
    trial = av.open(io.BytesIO(), "w", format=fmt)
    try:
        if stream.type == "video":  # an encoder's own stream: its extradata is in its context until the header
            copy = trial.add_stream_from_template(stream, opaque=True)
            copy.codec_context.extradata = stream.codec_context.extradata
        else:
            copy = trial.add_stream_from_template(stream)
        trial.start_encoding()
        if stream.codec_context is not None and stream.codec_context.name.startswith("pcm_"):
            silence = av.Packet(bytes(max(1, stream.codec_context.channels) * 8))
            silence.pts = silence.dts = 0
            silence.time_base, silence.stream = copy.time_base, copy
            trial.mux(silence)
            trial.close()
        return True
    except (av.FFmpegError, ValueError):
        return False
    finally:
        with contextlib.suppress(av.FFmpegError, ValueError):
            trial.close()


PENDING_DURATIONS = 256
"""Frame durations kept for the packets still inside the video encoder (far more than its delay)."""

STREAM_TAGS = ("language", "title")
"""The tags of an audio or subtitle stream that say what it is, kept on its copy."""


CONTAINER_TAGS_LEFT_OUT = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder", "duration"})
"""Container tags that describe the input file itself (its MP4 brand, its muxer, its length), not
the video: the output's muxer writes its own."""


def copy_container_metadata(source: av.container.InputContainer, output: OutputContainer, *, chapters: bool = True) -> None:
    """Give `output` the input's container tags (title, comment, artist, creation time, ...: all
    but CONTAINER_TAGS_LEFT_OUT) and, with `chapters`, its chapters, as FFmpeg's command line
    does by default. Call before the first packet (the header carries them)."""
    output.metadata.update(
        {key: value for key, value in source.metadata.items() if key.lower() not in CONTAINER_TAGS_LEFT_OUT}
    )
    if chapters and (marks := source.chapters()):
        output.set_chapters(marks)


MOV_LANGUAGE = {
    "sqi": "alb", "hye": "arm", "eus": "baq", "mya": "bur", "zho": "chi", "nld": "dut", "kat": "geo", "deu": "ger",
    "ell": "gre", "isl": "ice", "mkd": "mac", "msa": "may", "fas": "per", "bod": "tib", "cym": "wel",
    "cze": "ces", "fre": "fra", "rum": "ron", "slo": "slk", "swe": "sve", "nob": "nor",
}
"""ISO 639-2 codes that FFmpeg's MOV muxer drops, and the spelling of the same language it keeps:
MOV (unlike MP4) stores QuickTime's language numbers, whose table mixes the bibliographic and
terminology codes ("ger" but "fra"). Measured by writing each code and reading it back."""

VIDEO_TAGS = (*STREAM_TAGS, "timecode")
"""The video stream's tags kept on the upscaled one (an MOV/MP4 muxer makes a timecode track of "timecode")."""


def _copy_of(output: av.container.OutputContainer, stream: av.stream.Stream) -> av.stream.Stream:
    """A stream of `output` for `stream`'s packets, with its language, title and disposition."""
    copy = output.add_stream_from_template(stream)
    _describe_like(copy, stream)
    return copy


def _describe_like(copy: av.stream.Stream, stream: av.stream.Stream, tags: tuple[str, ...] = STREAM_TAGS) -> None:
    """Give `copy` the tags of `stream` that say what it is, and its disposition (default, forced,
    hearing impaired, ...)."""
    copy.metadata.update({key.lower(): value for key, value in stream.metadata.items() if key.lower() in tags})
    if "title" in tags and "title" not in copy.metadata and stream.metadata.get("name"):
        copy.metadata["title"] = stream.metadata["name"]  # FFmpeg reads an MP4/MOV track's title as "name"
    if copy.container.format.name == "mov" and "language" in copy.metadata:
        copy.metadata["language"] = MOV_LANGUAGE.get(copy.metadata["language"], copy.metadata["language"])
    copy.disposition = stream.disposition
    flags, keeping = UNSTORED_DISPOSITIONS.get(copy.container.format.name, ((), ""))
    lost = [flag.replace("_", "-") for flag in flags if stream.disposition & getattr(av.stream.Disposition, flag)]
    if lost:
        log.warning("stream #%d is marked %s, which %s does not store; write %s to keep it", stream.index,
                    " and ".join(lost), copy.container.format.name.upper(), keeping)


UNSTORED_DISPOSITIONS = {"mov": (("forced", "hearing_impaired"), ".mp4 or .mkv"), "webm": (("hearing_impaired",), ".mkv")}
"""Flags of a stream that FFmpeg's muxer for a format drops in silence (a forced-only subtitle track
becomes one shown all the time)."""


def _audio_parameters_known(stream: av.stream.Stream) -> bool:
    context = stream.codec_context
    return context is not None and context.sample_rate > 0 and context.channels > 0


def set_up_streams(
    source: av.container.InputContainer,
    output: OutputContainer,
    fmt: str,
    codec: str,
    add_video: Callable[[], av.video.stream.VideoStream],
    *,
    video_only: bool = False,
) -> tuple[av.video.stream.VideoStream, StreamMap]:
    """`map_streams`, with a failure of the encoder set-up (`codec`, in `add_video`) or of an
    audio transcoder as OutputError; the output is closed then."""
    try:
        video, mapping = map_streams(source, output, fmt, add_video, video_only=video_only)
    except (av.FFmpegError, ValueError) as exc:
        output.close()
        raise OutputError(f"cannot set up the {codec} encoder in {fmt}: {exc}") from None
    if not _container_takes(fmt, video):  # MOV lists VP9 among its codecs but refuses it in the header
        output.close()
        raise OutputError(f"the {fmt} container cannot hold {codec} video; choose another --codec or output extension")
    return video, mapping


GARBAGE_DTS_TICKS = 1 << 40
"""How far a packet's decoding time may lie before its presentation (far more than any reorder delay)."""


def sane_dts(pts: int, dts: int, last: int | None) -> int:
    """`dts`, or where it lies more than GARBAGE_DTS_TICKS from `pts`, `pts` itself (just after the
    `last` decoding time where that is not after it)."""
    if abs(pts - dts) <= GARBAGE_DTS_TICKS:
        return dts
    return pts if last is None or pts > last else last + 1


CLOCK_FORMATS = frozenset({"mpegts", "mpeg"})
"""Input formats whose timestamps are a broadcast or camera clock's reading (MPEG-TS/M2TS, MPEG-PS):
where it starts says nothing about the programme, and FFmpeg's command line starts the output at 0."""


def video_shift(start_pts: int, time_base: Fraction, source: av.container.InputContainer | None = None,
                kept: Collection[int] = ()) -> Fraction:
    """Seconds to add to every stream's timestamps, alike (in sync): so that a picture that starts
    before 0 starts at 0 (an MP4 would hide the frames before 0 behind its edit list, and
    Matroska cannot store them), and so that a transport or program stream (`source`, CLOCK_FORMATS)
    whose clock reads an hour at its first packet starts at 0 (an MP4 would open with an hour of
    nothing); in such a stream the earliest stream decides where one starts more than LEAD_SECONDS
    ahead of a picture before 0 (audio ahead of it, where the clock wraps, stayed before 0: hidden
    by an MP4's edit list). `kept`: the streams written beside the video (only they are counted:
    a teletext or data stream left out would open the output on a gap). Zero otherwise: an MP4's
    or Matroska's own start is kept."""
    video_start = start_pts * Fraction(time_base)
    if source is not None and source.format.name in CLOCK_FORMATS:
        starts = [stream.start_time * Fraction(stream.time_base) for stream in source.streams
                  if stream.index in kept and stream.start_time is not None and stream.time_base is not None]
        earliest = min([*starts, video_start])
        if earliest > 0 or (video_start < 0 and earliest < video_start - LEAD_SECONDS):
            return -earliest
    return -video_start if video_start < 0 else Fraction(0)


LEAD_SECONDS = Fraction(1, 10)
"""How far ahead of the picture another stream may start and still be moved with the picture's start
(an AAC encoder's priming, about 21–46 ms, starts the audio that much early: it is meant to be hidden)."""


def _ticks(seconds: Fraction, time_base: Fraction) -> int:
    return round(seconds / Fraction(time_base))


EDIT_LIST_FORMATS = ("mp4", "mov")
"""Output formats that hide, by their own edit list, the packets an input flags to be discarded
(as an MP4 input hides the audio before its cut): into others they are left out, but the last
before a packet to play (the decoder's preroll)."""


class Muxer:
    """Owns the output container; used from the writer thread only (after set-up).

    Damaged input policy for the other streams (audio, subtitles), the video's own: a packet whose
    timestamp goes back (a duplicated chunk of the file, say), or an audio packet whose timestamp
    does not advance, is dropped with a warning, as is a packet the container refuses or a
    transcoded packet that fails to decode; `dropped_packets` counts them for the end-of-run
    summary. The check lives here, beside the mux call that would fail, rather than in the reader:
    the muxer sees what is really written per stream (after the reorder buffer and the
    transcoder), and the container's own refusals need the same handling anyway.
    """

    def __init__(
        self, output: OutputContainer, video: av.video.stream.VideoStream, streams: StreamMap, *, shift: Fraction = Fraction(0),
    ) -> None:
        self.output = output
        self.video = video
        self.streams = streams
        self.shift = shift
        """Seconds added to every timestamp written (video_shift: a picture that starts before 0)."""
        self.video_packets = 0
        self.frames = 0
        self.dropped_packets = 0
        self._started = False  # whether the header has been written (by the first packet)
        self._last_time: dict[int, Fraction] = {}  # input stream → decoding time (s) of its last packet written
        self._dropping: set[int] = set()  # input streams whose last packet was dropped (warned once per run)
        self._preroll: dict[int, Passthrough] = {}  # input stream → its last packet flagged to be discarded, held
        self._copying_video = False  # whether the video comes as encoded packets (write_video_packet)
        self._durations: dict[int, int] = {}  # pts → duration of the frames in the encoder, not yet out
        self._last_video_dts: int | None = None
        self._last_millisecond: int | None = None  # in a container of milliseconds: the last frame's
        self._shared_millisecond = False  # whether two frames shared one (warned once)

    def write_frame(self, frame: av.VideoFrame) -> None:
        """Encode one upscaled frame and mux the packets the encoder gives back."""
        if self.shift and frame.pts is not None:
            frame.pts += _ticks(self.shift, frame.time_base or self.video.time_base)
        self._check_millisecond(frame)
        if frame.pts is not None and frame.duration:
            self._durations[frame.pts] = frame.duration
            if len(self._durations) > PENDING_DURATIONS:  # an encoder that restamps its packets: stay bounded
                del self._durations[next(iter(self._durations))]
        self._mux(self._with_durations(self.video.encode(frame)))
        self.frames += 1

    def _check_millisecond(self, frame: av.VideoFrame) -> None:
        """Warn (once) of a frame less than a millisecond after the one before where the container
        stores milliseconds: the two share a timestamp, and players (or a later run) drop one."""
        name = self.output.format.name
        if name not in MILLISECOND_CONTAINERS or frame.pts is None or frame.time_base is None or self._shared_millisecond:
            return
        seconds = frame.pts * Fraction(frame.time_base)
        millisecond = math.floor(seconds * 1000 + Fraction(1, 2))
        if millisecond == self._last_millisecond:
            self._shared_millisecond = True
            log.warning("the frame at %.4f s comes less than a millisecond after the one before: %s stores milliseconds, "
                        "so the two share a timestamp (players may drop one); write .mp4 or .mov to keep them apart",
                        float(seconds), MILLISECOND_CONTAINERS[name])
        self._last_millisecond = millisecond

    def _with_durations(self, packets: list[av.Packet]) -> list[av.Packet]:
        """The encoder's packets with their frames' durations where it gives none (x264 does not):
        an MP4 muxer would otherwise take the mean one for the last frame of a variable rate. A
        decoding time that is garbage (x265 flushing fewer frames than its look-ahead, such as a
        2-frame preview, gives pts − 8·10¹⁸) is made the presentation time, or just after the last."""
        for packet in packets:
            duration = self._durations.pop(packet.pts, 0) if packet.pts is not None else 0
            if not packet.duration and duration:
                packet.duration = duration
            if packet.pts is not None and packet.dts is not None:
                packet.dts = self._last_video_dts = sane_dts(packet.pts, packet.dts, self._last_video_dts)
        return packets

    def write_video_packet(self, packet: av.Packet) -> None:
        """Mux an already encoded video packet (one frame) as it is, timestamps included; the
        video encoder is then not used (vsr.media.remux joins segments this way)."""
        self._copying_video = True
        self._shifted(packet)
        packet.stream = self.video
        self._mux([packet])
        self.frames += 1

    def write_passthrough(self, item: Passthrough) -> None:
        """Mux a packet of another stream as it is, or through its transcoder (audio, text subtitles); a damaged one
        (see the class) is dropped and counted instead. Raises OSError-like errors (disk full) as they are."""
        packet, index = item.packet, item.stream_index  # not packet.stream: the input may be closed by now
        if packet.is_discard and index not in self.streams.transcoded and self.output.format.name not in EDIT_LIST_FORMATS:
            if self.streams.copied[index].type == "audio":  # hidden by the input's edit list (a cut's audio before the cut)
                self._preroll[index] = item
            return
        if (preroll := self._preroll.pop(index, None)) is not None:
            self._pass(preroll)  # the last hidden packet before what plays: a decoder's preroll, as AAC's priming is
        self._pass(item)

    def _pass(self, item: Passthrough) -> None:
        packet, index = item.packet, item.stream_index
        self._shifted(packet)
        backwards = self._goes_back(packet, index)
        if backwards is not None:
            self._drop(index, f"its timestamp goes back ({backwards})")
            return
        try:
            if index in self.streams.transcoded:
                self._mux(self.streams.transcoded[index].packets(packet))
            else:
                packet.stream = self.streams.copied[index]
                self._write(packet)
        except (av.FFmpegError, ValueError) as exc:
            if isinstance(exc, OSError):  # a write failure, not the packet's fault
                raise
            self._drop(index, f"{'decoding' if index in self.streams.transcoded else 'the container'} refused it: {exc}")
            return
        self._dropping.discard(index)

    def _shifted(self, packet: av.Packet) -> None:
        """`packet`'s timestamps moved by `shift`."""
        if self.shift and packet.time_base is not None:
            ticks = _ticks(self.shift, packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts + ticks
            packet.dts = None if packet.dts is None else packet.dts + ticks

    def finish(self) -> None:
        """Flush the encoders and write the trailer."""
        if not self._copying_video:
            self._mux(self._with_durations(self.video.encode(None)))
        for transcoder in self.streams.transcoded.values():
            self._mux(transcoder.packets(None))
        self.output.close()

    def _goes_back(self, packet: av.Packet, index: int) -> str | None:
        """Why `packet` cannot follow the last packet written for its input stream, or None
        (and then it becomes that last packet)."""
        ticks = packet.dts if packet.dts is not None else packet.pts
        if ticks is None or packet.time_base is None:
            return None
        time = ticks * Fraction(packet.time_base)
        last = self._last_time.get(index)
        # two audio packets never start together; two subtitles may. (Not `packet.stream`: the
        # input stream it names is freed once the reader closes the file.)
        copy = self.streams.transcoded[index].stream if index in self.streams.transcoded else self.streams.copied[index]
        audio = copy.type == "audio"
        if last is not None and (time < last or (time == last and audio)):
            return f"{float(time):.3f} s after {float(last):.3f} s"
        if packet.pts is not None and packet.dts is not None and packet.pts < packet.dts:
            return f"presented at {float(packet.pts * packet.time_base):.3f} s, before it is decoded"
        self._last_time[index] = time
        return None

    def _drop(self, index: int, why: str) -> None:
        self.dropped_packets += 1
        if index not in self._dropping:  # once per run of dropped packets; the summary has the count
            log.warning("dropping damaged packet(s) of stream #%d: %s", index, why)
            self._dropping.add(index)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.stream is self.video:
                self.video_packets += 1
            self._write(packet)

    def _write(self, packet: av.Packet) -> None:
        """Mux one packet. The first one writes the header too, which FFmpeg refuses when a
        stream's parameters make no sense (a damaged input header): InputError then."""
        if self._started:
            self.output.mux(packet)
            return
        try:
            self.output.mux(packet)
        except (av.FFmpegError, ValueError) as exc:
            if isinstance(exc, OSError):
                raise
            reason = (getattr(exc, "strerror", None) or str(exc)).lower()
            raise InputError(
                f"FFmpeg cannot start the output file with the input's streams ({reason}); is the input's header damaged?"
            ) from None
        self._started = True

