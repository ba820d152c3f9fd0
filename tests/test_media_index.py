"""vsr.media.index: the video packet index, read without decoding."""

from __future__ import annotations

import av
import pytest

from vsr.errors import InputError
from vsr.media.index import read_packet_index
from videoclips import read_video, remux


def test_the_index_holds_every_frames_pts_sorted_and_the_keyframes(make_clip):
    source = make_clip("in.mp4", frames=40, codec="libx264", options={"g": "5", "bf": "2"})
    index = read_packet_index(source)
    with av.open(str(source)) as container:
        decode_order = [p.pts for p in container.demux(video=0) if p.pts is not None]
    assert decode_order != sorted(decode_order)  # B-frames: the file's order is not presentation order
    assert list(index.pts) == read_video(source, keep_lumas=False).pts
    assert set(index.keyframes) <= set(index.pts) and len(index.keyframes) == 8
    assert index.time_base == read_video(source, keep_lumas=False).time_base


def test_a_file_without_video_has_no_index(make_audio_only):
    with pytest.raises(InputError, match="no video stream"):
        read_packet_index(make_audio_only())


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".ts"])
def test_intra_refresh_recovery_points_are_no_keyframes_but_open_gop_i_frames_are(make_clip, tmp_path, suffix):
    """x264's periodic intra refresh has no I-frame after the first; FFmpeg flags its recovery
    points (P-frames) as keyframes, and every segment cut there lost its first frames: segmented
    runs failed their check twice and stopped."""
    def clip(name: str, **spec):  # MPEG-TS (start codes, not length prefixes): the Matroska clip remuxed
        made = make_clip(name + (".mkv" if suffix == ".ts" else suffix), frames=30, **spec)
        return remux(made, tmp_path / f"{name}.ts", "mpegts") if suffix == ".ts" else made

    refreshed = clip("refresh", options={"x264-params": "intra-refresh=1:keyint=10"})
    with av.open(str(refreshed)) as container:
        assert sum(p.is_keyframe for p in container.demux(video=0)) > 1  # what FFmpeg says
    assert len(read_packet_index(refreshed).keyframes) == 1
    opened = clip("open", options={"x264-params": "keyint=10:open-gop=1", "bf": "2"})
    hevc = clip("hevc", codec="libx265", options={"x265-params": "keyint=10:log-level=error"})
    for video in (opened, hevc):  # non-IDR I-frames and HEVC's IRAP pictures: a decoder starts there, all kept
        with av.open(str(video)) as container:
            flagged = sorted(p.pts for p in container.demux(video=0) if p.is_keyframe and p.pts is not None)
        assert list(read_packet_index(video).keyframes) == flagged and len(flagged) >= 3


def test_a_keyframe_the_parser_cannot_read_is_taken_as_flagged():
    """A damaged slice header raised a bare ValueError out of the index; an HEVC record of
    version 0 (which FFmpeg reads) was split as start codes and lost every keyframe."""
    from types import SimpleNamespace

    from vsr.media.index import _start_checker

    h264 = SimpleNamespace(codec_context=SimpleNamespace(name="h264", extradata=b""))
    assert all(_start_checker(h264)(b"\x00\x00\x01" + unit) for unit in (b"\x01", b"\x41\x00\x00", b"\x41\x80"))
    record = bytearray(23)
    record[1], record[21] = 1, 3  # hvcC "version 0", general profile 1, 4-byte lengths
    hevc = SimpleNamespace(codec_context=SimpleNamespace(name="hevc", extradata=bytes(record)))
    idr = bytes([19 << 1, 1]) + b"\xaf" * 8  # an IDR_W_RADL slice
    assert _start_checker(hevc)(len(idr).to_bytes(4, "big") + idr)
