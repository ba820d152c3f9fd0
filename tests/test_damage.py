"""Damaged input that decodes: the run goes through, says what was damaged, and keeps the timing.

Three kinds, each made deterministically from a clean synthetic clip: a Matroska cluster stored
twice (audio timestamps go back, as a duplicated chunk of a downloaded file does), VP8 packets
with flipped bytes (the frame-threaded VP8 decoder hides those errors), and MP3 audio that starts
before the video (its encoder delay), which Matroska must keep where it is.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vsr
from vsr.errors import InputError
from vsr.media.decode import DecodeStats, read_items
from vsr.media.frames import Layout
from videoclips import audio_packets, listing, remux

FAST = {"scale": 2, "model": "bicubic", "preset": "ultrafast"}
SEGMENT, CLUSTER = 0x18538067, 0x1F43B675
"""EBML ids of a Matroska Segment and Cluster."""


# --- making damaged files --------------------------------------------------------------------


def _ebml_number(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """(value, length in bytes) of the EBML variable-length number at `pos`."""
    length = 1
    while not data[pos] & (0x80 >> (length - 1)):
        length += 1
    value = data[pos] if keep_marker else data[pos] & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = value << 8 | byte
    return value, length


def _children(data: bytes, start: int, end: int):
    """(id, start, body start, end) of the EBML elements in data[start:end]."""
    pos = start
    while pos < end:
        element, id_length = _ebml_number(data, pos, keep_marker=True)
        size, size_length = _ebml_number(data, pos + id_length, keep_marker=False)
        body = pos + id_length + size_length
        stop = end if size == (1 << (7 * size_length)) - 1 else body + size  # all ones: unknown size
        yield element, pos, body, stop
        pos = stop


def with_small_clusters(source: Path, target: Path, milliseconds: int = 80) -> Path:
    """`source`'s packets copied into a Matroska file whose clusters last at most `milliseconds`."""
    return remux(source, target, "matroska", cluster_time_limit=str(milliseconds))


def duplicate_cluster(path: Path, index: int) -> None:
    """Store the `index`-th cluster of a Matroska file twice in a row (its Segment made of unknown size)."""
    data = bytearray(path.read_bytes())
    segment = next(e for e in _children(data, 0, len(data)) if e[0] == SEGMENT)
    clusters = [(s, e) for element, s, _, e in _children(data, segment[2], segment[3]) if element == CLUSTER]
    size_at = segment[1] + 4  # after the 4-byte Segment id
    _, size_length = _ebml_number(data, size_at, keep_marker=False)
    data[size_at : size_at + size_length] = bytes([0xFF >> (size_length - 1)]) + b"\xff" * (size_length - 1)
    start, end = clusters[index]
    path.write_bytes(bytes(data[:end] + data[start:end] + data[end:]))


def flip_payload_bytes(source: Path, target: Path, first: int, flips: int, seed: int = 0) -> Path:
    """`source`'s video packets copied into `target` with `flips` bytes inverted in every packet
    from the `first`-th on (the first 10 bytes of each, where the frame header is, left alone).
    `target` is Matroska or WebM."""
    rng = np.random.default_rng(seed)
    with av.open(str(source)) as src, av.open(str(target), "w", format=target.suffix.lstrip(".").replace("mkv", "matroska")) as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        for number, packet in enumerate(p for p in src.demux(video) if p.size):
            data = bytearray(bytes(packet))
            if number >= first:
                for at in rng.integers(10, len(data), flips):
                    data[at] ^= 0xFF
            damaged = av.Packet(bytes(data))
            damaged.pts, damaged.dts, damaged.time_base = packet.pts, packet.dts, packet.time_base
            damaged.is_keyframe = packet.is_keyframe
            damaged.stream = stream
            out.mux(damaged)
    return target


def packet_times(path: Path, kind: str) -> list[Fraction]:
    """Presentation times (s) of the non-empty packets of the first `kind` stream, in file order."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [p.pts * p.time_base for p in container.demux(stream) if p.size and p.pts is not None]


# --- audio timestamps that go back --------------------------------------------------------------


@pytest.fixture
def duplicated_chunk(make_clip, tmp_path) -> tuple[Path, Path]:
    """(clean clip, the same with its 4th cluster stored twice): 24 frames, AAC audio, in Matroska."""
    clean = with_small_clusters(make_clip("clean.mkv", frames=24, audio=("aac",)), tmp_path / "small.mkv")
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(clean.read_bytes())
    duplicate_cluster(damaged, 3)
    return clean, damaged


def test_the_duplicated_chunk_really_sends_audio_timestamps_back(duplicated_chunk):
    clean, damaged = duplicated_chunk
    times = packet_times(damaged, "audio")
    assert any(later < earlier for earlier, later in zip(times, times[1:]))
    assert len(times) > len(packet_times(clean, "audio"))


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_audio_going_back_is_dropped_with_a_warning_and_the_rest_kept_in_sync(duplicated_chunk, tmp_path, caplog, suffix):
    clean, damaged = duplicated_chunk
    output = tmp_path / f"out{suffix}"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(damaged, output, **FAST)
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("damaged input")]
    assert len(summary) == 1 and "audio/subtitle packet(s) were dropped" in summary[0]
    assert result.frames == 24
    # the kept audio is the clean file's, packet for packet, at the same times as the video
    assert audio_packets(output) == audio_packets(clean)
    assert packet_times(output, "audio") == pytest.approx(packet_times(clean, "audio"), abs=Fraction(1, 1000))
    assert sorted(packet_times(output, "video")) == pytest.approx(sorted(packet_times(clean, "video")), abs=Fraction(1, 1000))
    assert listing(tmp_path) == sorted(["clean.mkv", "small.mkv", "damaged.mkv", output.name])


# --- hidden decoder errors -------------------------------------------------------------------------


@pytest.fixture
def damaged_vp8(make_clip, tmp_path) -> Path:
    """24 VP8 frames of 160x128 whose packets from the 2nd on have one byte flipped each."""
    clean = make_clip("clean.webm", codec="libvpx", frames=24, width=160, height=128)
    return flip_payload_bytes(clean, tmp_path / "damaged.webm", first=1, flips=1)


def test_the_frame_threaded_vp8_decoder_alone_hides_the_damage(damaged_vp8):
    """What the witness is for: frame threads give every frame back and raise nothing."""
    with av.open(str(damaged_vp8)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.thread_count = "FRAME", 2
        frames = [f for p in container.demux(stream) for f in p.decode()]
    assert len(frames) == 24 and not any(f.is_corrupt for f in frames)


def test_damaged_vp8_is_reported_though_every_frame_comes_out(damaged_vp8, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="vsr"):
        result = vsr.upscale_video(damaged_vp8, tmp_path / "out.webm", **FAST)
    assert result.frames == 24
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("damaged input")]
    assert len(summary) == 1 and "frame(s) were decoded with errors" in summary[0]


def test_a_clean_vp8_clip_reports_no_damage(make_clip):
    stats = DecodeStats()
    frames = list(read_items(make_clip("clean.webm", codec="libvpx", frames=24, width=160, height=128),
                             Layout("yuv420p"), [], stats, 1))
    assert len(frames) == 24 and stats.damage_summary() is None


def test_h264_frames_the_decoder_flags_corrupt_are_counted(make_clip, tmp_path):
    clean = make_clip("clean.mkv", frames=24, width=160, height=128)
    damaged = flip_payload_bytes(clean, tmp_path / "damaged.mkv", first=1, flips=1)
    stats = DecodeStats()
    list(read_items(damaged, Layout("yuv420p"), [], stats, 1))
    assert stats.damaged_frames > 0
    assert "decoded with errors" in stats.damage_summary()


def test_a_file_whose_every_frame_fails_to_decode_is_an_input_error_and_leaves_nothing(make_clip, tmp_path):
    source = make_clip("broken.mkv", codec="mjpeg", pix_fmt="yuvj420p", frames=6, corrupt=tuple(range(6)))
    with pytest.raises(InputError, match="no video frame of .* could be decoded"):
        vsr.upscale_video(source, tmp_path / "out.mkv", **FAST)
    assert listing(tmp_path) == ["broken.mkv"]


# --- audio that starts before the video ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_mp3_starting_before_zero_keeps_its_timing(make_clip, tmp_path, suffix):
    source = make_clip("in.mp4", frames=12, audio=("mp3",))
    audio_start = packet_times(source, "audio")[0]
    assert audio_start < 0  # the encoder delay: the clip proves what it should
    output = tmp_path / f"out{suffix}"
    vsr.upscale_video(source, output, **FAST)
    assert packet_times(output, "audio")[0] == pytest.approx(audio_start, abs=Fraction(1, 1000))
    assert sorted(packet_times(output, "video")) == pytest.approx(sorted(packet_times(source, "video")), abs=Fraction(1, 1000))
    assert min(packet_times(output, "video")) == 0
