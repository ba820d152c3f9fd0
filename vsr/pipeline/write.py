"""The writer stage, last of the pipeline: encoder frames encoded and muxed, passthrough packets
copied, and the file finished at the end marker (vsr.media.mux.Muxer does the work)."""

from __future__ import annotations

from vsr.media.frames import Passthrough
from vsr.media.mux import Muxer
from vsr.pipeline.queue import StageQueue


def write_stage(source: StageQueue, muxer: Muxer) -> None:
    """Take encoder frames and Passthrough packets from `source` until END, then flush and close the file."""
    for item in source.until_end():
        if isinstance(item, Passthrough):
            muxer.write_passthrough(item)
        else:
            muxer.write_frame(item)
    muxer.finish()
