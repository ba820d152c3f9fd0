"""Print one line per decoded video frame: index, pts and the SHA-256 of its visible samples.

Used to check that a change of code leaves outputs bit-identical:
    python scripts/frame_hashes.py before.mp4 > before.txt
    python scripts/frame_hashes.py after.mp4 > after.txt && diff before.txt after.txt
"""

from __future__ import annotations

import hashlib
import sys

import av
import numpy as np


def frame_hashes(path: str) -> list[str]:
    lines = []
    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            sample_bytes = (frame.format.components[0].bits + 7) // 8
            digest = hashlib.sha256()
            for plane in frame.planes:
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                digest.update(rows[:, : plane.width * sample_bytes].tobytes())  # not the line padding
            lines.append(f"{index} {frame.pts} {digest.hexdigest()[:16]}")
    return lines


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print("\n".join(frame_hashes(path)))
