"""The output container. Video packets from the encoder, the other streams copied as
they are (audio re-encoded only where the container cannot hold its codec), and the file written
under a temporary name beside the target and renamed only when complete."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
from av.container import OutputContainer

from vsr.errors import OutputError
from vsr.media.frames import Passthrough

log = logging.getLogger(__name__)

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
AUDIO_FALLBACK = {"webm": "libopus"}
"""Audio encoder used where the container cannot hold the input's audio codec (default: aac)."""


def container_format(path: Path) -> str:
    """The FFmpeg muxer for `path`'s extension ("mp4", "matroska", "mov", "webm"); OutputError for another."""
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise OutputError(
            f"cannot tell the output container from {path.name!r}; use one of {', '.join(CONTAINERS)}"
        ) from None


def temp_path_for(target: Path) -> Path:
    """A hidden temporary name in the target's folder, with the same extension."""
    return target.with_name(f".{target.stem}.vsr-{secrets.token_hex(4)}.partial{target.suffix}")


def check_output_path(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse to write over the input, over an existing file without `overwrite`, or into a missing/unwritable folder."""
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise OutputError(f"the output {target} is the input itself; choose another path with -o")
    if target.is_dir():
        raise OutputError(f"the output {target} is a folder; give a file name with -o")
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; pass --overwrite to replace it or choose another path with -o")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"the output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to the output folder {folder} (permission denied)")


def commit_output(temp: Path, target: Path, overwrite: bool) -> None:
    """Move the finished temporary file onto the target name."""
    if target.exists() and not overwrite:
        raise OutputError(f"{target} appeared while upscaling; pass --overwrite to replace it")
    os.replace(temp, target)


def open_output(temp: Path, container: str) -> OutputContainer:
    """A new output file at `temp` in the FFmpeg format `container`; OutputError when it cannot be created."""
    try:
        return av.open(str(temp), "w", format=container)
    except (OSError, av.FFmpegError) as exc:
        raise OutputError(f"cannot create the output file in {temp.parent}: {exc}") from None


def close_quietly(output: OutputContainer) -> None:
    """Close an output after a failure, ignoring its errors (the file is about to be removed)."""
    try:
        output.close()
    except Exception:  # the run has already failed; the file is about to be removed
        pass


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the temporary file %s: %s", path, exc)


class AudioTranscoder:
    """Decode → resample → encode for an audio stream whose codec the output container cannot hold."""

    def __init__(self, output: OutputContainer, source: av.audio.stream.AudioStream, codec: str) -> None:
        self.decoder = source.codec_context
        rate = self.decoder.sample_rate
        encoder_codec = av.codec.Codec(codec, "w")
        if encoder_codec.audio_rates and rate not in encoder_codec.audio_rates:
            rate = 48000
        self.stream = output.add_stream(codec, rate=rate)
        self.stream.layout = self.decoder.layout
        sample_format = encoder_codec.audio_formats[0].name
        self.stream.format = sample_format
        if source.metadata.get("language"):
            self.stream.metadata["language"] = source.metadata["language"]
        self.resampler = av.AudioResampler(format=sample_format, layout=self.decoder.layout, rate=rate)

    def packets(self, packet: av.Packet | None) -> list[av.Packet]:
        frames = self.decoder.decode(packet)
        resampled = [r for frame in frames for r in self.resampler.resample(frame)]
        if packet is None:
            resampled += self.resampler.resample(None)
        encoded = [p for frame in resampled for p in self.stream.encode(frame)]
        if packet is None:
            encoded += self.stream.encode(None)
        return encoded


@dataclass
class StreamMap:
    """What happens to each non-video input stream."""

    copied: dict[int, av.stream.Stream] = field(default_factory=dict)
    transcoded: dict[int, AudioTranscoder] = field(default_factory=dict)

    @property
    def kept(self) -> list[int]:
        return sorted([*self.copied, *self.transcoded])


def map_streams(
    source: av.container.InputContainer,
    output: OutputContainer,
    fmt: str,
    add_video: Callable[[], av.video.stream.VideoStream],
) -> tuple[av.video.stream.VideoStream, StreamMap]:
    """The output's streams in the input's order: the upscaled video (made by `add_video`) where the
    first video stream was; every audio and subtitle stream the container can hold copied; audio
    it cannot hold transcoded; the rest dropped with a warning."""
    mapping = StreamMap()
    supported = output.supported_codecs
    first_video = source.streams.video[0].index
    video = None
    for stream in source.streams:
        if stream.type == "video":
            if stream.index == first_video:
                video = add_video()
            else:
                log.warning("dropping extra video stream #%d (only the first video stream is upscaled)", stream.index)
            continue
        codec = stream.codec_context.name if stream.codec_context else None
        if stream.type == "audio":
            if codec in supported:
                mapping.copied[stream.index] = output.add_stream_from_template(stream)
            else:
                fallback = AUDIO_FALLBACK.get(fmt, "aac")
                log.warning("%s cannot hold %s audio (stream #%d): re-encoding it as %s", fmt, codec, stream.index, fallback)
                mapping.transcoded[stream.index] = AudioTranscoder(output, stream, fallback)
        elif stream.type == "subtitle" and codec in supported:
            mapping.copied[stream.index] = output.add_stream_from_template(stream)
        else:
            log.warning("dropping %s stream #%d (%s): the %s container cannot hold it", stream.type, stream.index, codec, fmt)
    assert video is not None
    return video, mapping


def set_up_streams(
    source: av.container.InputContainer,
    output: OutputContainer,
    fmt: str,
    codec: str,
    add_video: Callable[[], av.video.stream.VideoStream],
) -> tuple[av.video.stream.VideoStream, StreamMap]:
    """`map_streams`, with a failure of the encoder set-up (`codec`, in `add_video`) or of an
    audio transcoder as OutputError; the output is closed then."""
    try:
        return map_streams(source, output, fmt, add_video)
    except (av.FFmpegError, ValueError) as exc:
        output.close()
        raise OutputError(f"cannot set up the {codec} encoder in {fmt}: {exc}") from None


class Muxer:
    """Owns the output container; used from the writer thread only (after set-up)."""

    def __init__(self, output: OutputContainer, video: av.video.stream.VideoStream, streams: StreamMap) -> None:
        self.output = output
        self.video = video
        self.streams = streams
        self.video_packets = 0
        self.frames = 0

    def write_frame(self, frame: av.VideoFrame) -> None:
        """Encode one upscaled frame and mux the packets the encoder gives back."""
        self._mux(self.video.encode(frame))
        self.frames += 1

    def write_passthrough(self, item: Passthrough) -> None:
        """Mux a packet of another stream as it is, or through its audio transcoder."""
        packet, index = item.packet, item.stream_index
        if index in self.streams.transcoded:
            self._mux(self.streams.transcoded[index].packets(packet))
        else:
            packet.stream = self.streams.copied[index]
            self.output.mux(packet)

    def finish(self) -> None:
        """Flush the encoders and write the trailer."""
        self._mux(self.video.encode(None))
        for transcoder in self.streams.transcoded.values():
            self._mux(transcoder.packets(None))
        self.output.close()

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.stream is self.video:
                self.video_packets += 1
            self.output.mux(packet)

