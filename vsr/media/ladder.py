"""What `vsr experiment` needs from FFmpeg: encoding a downscaled stream into a file at a CRF or a
bitrate while counting the video bytes, checking that an encoder exists, and the library versions."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from vsr.errors import ConfigError, OutputError, VsrError
from vsr.media.encode import VideoFileWriter, VideoFrame, encoder_pix_fmts, frame_from_planes
from vsr.media.frames import Layout, VideoItem
from vsr.media.probe import VideoInfo, file_url
from vsr.options import EncodeOptions

LADDER_CONTAINER = "mp4"
"""The encodes are kept as MP4 files (any of the supported codecs fits, and the source's time base is kept)."""


def check_encoder(codec: str, pix_fmt: str) -> None:
    """ConfigError unless FFmpeg has the video encoder `codec`, a lossy one (a ladder varies the rate:
    a lossless encoder ignores it), and it takes `pix_fmt`."""
    try:
        formats = encoder_pix_fmts(codec)
    except VsrError as error:
        raise ConfigError(str(error)) from None
    if not av.codec.Codec(codec, "w").lossy:
        raise ConfigError(f"{codec} is a lossless encoder: it has no rate to vary; a ladder takes a lossy one "
                          "(libx264, libx265, libvpx-vp9, libsvtav1)")
    if pix_fmt not in formats:
        raise ConfigError(f"{codec} does not take {pix_fmt} frames")


def library_versions() -> dict[str, str]:
    """PyAV's version, FFmpeg's, and those of the FFmpeg libraries it runs on ("libavcodec": "61.3.100", ...)."""
    versions = {"av": av.__version__, "ffmpeg": str(av.ffmpeg_version_info)}
    for name, numbers in sorted(av.library_versions.items()):
        versions[name] = ".".join(str(n) for n in numbers)
    return versions


class LadderEncoder(VideoFileWriter):
    """One rung of a ladder: planes in, a video-only file out, at a CRF or a bitrate.

        with LadderEncoder(path, info, codec, options, layout, width, height) as encoder:
            for planes, item in frames:
                encoder.write_planes(planes, item)
        encoder.video_bytes, encoder.seconds

    `video_bytes` counts the payload of the video packets as the file stores them (no container
    overhead; after the block: the muxer drops bytes the encoder gave, AV1's temporal delimiters);
    `seconds` is the time spent inside the encoder and muxer. The stream carries the source's
    timing and colour (`info`; its rotation is dropped: the frames are compared as stored).
    Leaving the block without an error flushes the encoder; the file is closed either way (the
    caller owns the path and renames or removes it). Raises ConfigError when the encoder refuses
    the settings.
    """

    def __init__(
        self, path: Path, info: VideoInfo, codec: str, options: EncodeOptions, layout: Layout, width: int, height: int
    ) -> None:
        self.layout = layout
        self.time_base = info.time_base
        self.shift = max(0, -info.start_pts)
        """Ticks added to every timestamp: a source that starts before 0 (a wrapped MPEG-TS clock)
        would lose those frames behind the MP4 rung's edit list."""
        self.path = path
        self.video_bytes = 0
        self.packets = 0
        self.seconds = 0.0
        try:
            as_stored = dataclasses.replace(info, rotation=0, display_matrix=None)
            super().__init__(path, LADDER_CONTAINER, as_stored, codec, options, layout, width, height)
        except (av.FFmpegError, ValueError) as error:
            raise ConfigError(f"{codec} refused the settings {options}: {error}") from None

    def write_planes(self, planes: list[np.ndarray], item: VideoItem) -> None:
        """Encode one frame (`planes`: Y first, at the stream's size) stamped with `item`'s timestamp."""
        frame = frame_from_planes(planes, item, self.layout, self.time_base)
        frame.pts += self.shift
        self.encode(frame)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        super().__exit__(kind, error, traceback)
        if error is None:
            try:
                with av.open(file_url(self.path)) as written:
                    self.video_bytes = sum(packet.size for packet in written.demux(written.streams.video[0]))
            except (OSError, av.FFmpegError) as exc:
                raise OutputError(f"cannot read back the encode {self.path.name}: {exc}") from None

    def encode(self, frame: VideoFrame | None) -> None:
        started = time.perf_counter()
        packets = self._stream.encode(frame)
        self.video_bytes += sum(packet.size for packet in packets)
        self.packets += len(packets)
        self._output.mux(packets)
        self.seconds += time.perf_counter() - started
