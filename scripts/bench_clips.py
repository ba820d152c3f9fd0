"""Make the benchmark clips: a real clip resized to 540p and 1080p, H.264 CRF 16, video only.

    python3 scripts/bench_clips.py SOURCE OUT_DIR [--frames 120]

Writes OUT_DIR/clip540.mp4 (960x540) and OUT_DIR/clip1080.mp4 (1920x1080) from the first frames of
SOURCE (swscale bicubic), the frame rate of the source kept.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av

SIZES = {"clip540.mp4": (960, 540), "clip1080.mp4": (1920, 1080)}


def make_clip(source: Path, target: Path, width: int, height: int, frames: int) -> int:
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream_in = src.streams.video[0]
        rate = stream_in.average_rate or Fraction(25)
        out = dst.add_stream("libx264", rate=rate, options={"crf": "16", "preset": "fast"})
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        count = 0
        for frame in src.decode(stream_in):
            resized = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
            resized.pts, resized.time_base = count, Fraction(1) / rate
            dst.mux(out.encode(resized))
            count += 1
            if count >= frames:
                break
        dst.mux(out.encode(None))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, (width, height) in SIZES.items():
        count = make_clip(args.source, args.out_dir / name, width, height, args.frames)
        print(f"{name}: {width}x{height}, {count} frames")


if __name__ == "__main__":
    main()
