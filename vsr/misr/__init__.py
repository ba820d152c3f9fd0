"""Multi-frame super-resolution: align the neighbours t−k…t+k of each frame and fuse them.

    from vsr.misr import MultiFrameSR, MultiFrameSettings
    mf = MultiFrameSR(scale=4, settings=MultiFrameSettings(frames=5))   # t−2 … t+2
    hr = []
    for luma in lr_lumas:                          # (H, W) planes, streamed in display order
        mf.push(luma)
        while len(hr) < mf.count and mf.ready(len(hr)):   # ready once t+k (or a cut) has arrived
            t = len(hr)
            hr.append(mf.fuse([t], [estimates[t]]))        # from a (4H, 4W) single-frame estimate
            mf.release(t + 1)
    mf.finish()                                    # the last frames' windows replicate the final one
    while len(hr) < mf.count:
        hr.append(mf.fuse([len(hr)], [estimates[len(hr)]]))

Modules: `align` (dense flow, warping, confidence, the `WindowAlignment` record), `fuse`
(back-projection onto the HR grid), `stream` (`MultiFrameSR`: windows, scene cuts, memory).
"""

from vsr.misr.align import FlowSettings, WindowAlignment
from vsr.misr.fuse import FusionSettings
from vsr.misr.stream import Diagnostics, MultiFrameSettings, MultiFrameSR
from vsr.options import check_frames

__all__ = [
    "MultiFrameSR",
    "MultiFrameSettings",
    "FlowSettings",
    "FusionSettings",
    "Diagnostics",
    "WindowAlignment",
    "check_frames",
]
