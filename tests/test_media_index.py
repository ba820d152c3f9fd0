"""vsr.media.index: the video packet index, read without decoding."""

from __future__ import annotations

import av
import pytest

from vsr.errors import InputError
from vsr.media.index import read_packet_index
from videoclips import read_video


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
