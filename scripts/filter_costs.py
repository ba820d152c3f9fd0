"""What the pipeline's FFmpeg filters cost and do at 540p (the figures in the README's "Filters,
colour and aspect"): each filter graph alone on decoded frames (fps), and each denoiser candidate's
Y-PSNR against the clean frames under Gaussian noise.

    python scripts/filter_costs.py ../shared/data/clips/big_buck_bunny_0_30.webm --frames 24

The clip's first frames are scaled to 960x540 (yuv420p); "noisy" adds Gaussian noise of the given
sigmas to the luma (fresh in every frame). Timings include nothing but the graph (push and pull).
`--pan IMAGE` measures the denoisers on natural detail instead (Big Buck Bunny is animation, kind
to a spatial denoiser): a 448x288 window panning 2 px a frame across a photo.

    python scripts/filter_costs.py --pan ../shared/data/train/BSDS500/test/100007.jpg --skip-costs
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vsr.media.filterplan import DENOISE_PRESETS
from vsr.media.filters import VideoFilterGraph

COSTS = {
    "bwdif (frame)": "bwdif=mode=send_frame:deint=all",
    "bwdif (field)": "bwdif=mode=send_field:deint=all",
    "yadif (frame)": "yadif=mode=send_frame:deint=all",
    "w3fdif (frame)": "w3fdif=mode=frame:deint=all",
    "ivtc (fieldmatch, decimate)": "fieldmatch,decimate",
    "deblock": "deblock",
    **{f"denoise {name}": chain for name, chain in DENOISE_PRESETS.items()},
    "colour → bt709": "colorspace=ispace=6:space=1:iprimaries=6:primaries=6:itrc=6:trc=6:irange=1:range=1",
    "square pixels (960 → 1280 wide)": "scale=w=1280:h=540:flags=lanczos,setsar=1",
}

DENOISERS = {
    "atadenoise (defaults: 0.02/0.04, s=9)": "atadenoise",
    "atadenoise 0.04/0.08 s=5": "atadenoise=0a=0.04:0b=0.08:1a=0.04:1b=0.08:s=5",
    "atadenoise 0.08/0.16 s=9": "atadenoise=0a=0.08:0b=0.16:1a=0.08:1b=0.16:s=9",
    "atadenoise 0.12/0.24 s=9": "atadenoise=0a=0.12:0b=0.24:1a=0.12:1b=0.24:s=9",
    "nlmeans s=2 p=3 r=7": "nlmeans=s=2:p=3:r=7",
    "nlmeans s=3 p=3 r=7": "nlmeans=s=3:p=3:r=7",
    "nlmeans s=3 p=5 r=9": "nlmeans=s=3:p=5:r=9",
    "nlmeans s=4 p=5 r=9": "nlmeans=s=4:p=5:r=9",
    "nlmeans s=5 p=5 r=9": "nlmeans=s=5:p=5:r=9",
    "nlmeans s=6 p=5 r=9": "nlmeans=s=6:p=5:r=9",
    "nlmeans s=8 p=7 r=11": "nlmeans=s=8:p=7:r=11",
    "nlmeans s=10 p=5 r=9": "nlmeans=s=10:p=5:r=9",
    "nlmeans s=10 p=7 r=11": "nlmeans=s=10:p=7:r=11",
    "nlmeans s=12 p=7 r=11": "nlmeans=s=12:p=7:r=11",
    "nlmeans s=4 (defaults p=7 r=15)": "nlmeans=s=4",
    "atadenoise 0.08/0.16 + nlmeans s=4 p=5 r=9": "atadenoise=0a=0.08:0b=0.16:1a=0.08:1b=0.16:s=9,nlmeans=s=4:p=5:r=9",
}

SIZE = [960, 540]


def clean_frames(path: Path, count: int) -> list[av.VideoFrame]:
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            out = frame.reformat(width=SIZE[0], height=SIZE[1], format="yuv420p")
            out.pts, out.time_base = len(frames), Fraction(1, 24)
            frames.append(out)
            if len(frames) == count:
                break
    return frames


def panned_frames(path: Path, count: int) -> list[av.VideoFrame]:
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    SIZE[:] = [448, 288]
    frames = []
    for index in range(count):
        x = (2 * index) % max(1, image.shape[1] - SIZE[0])
        crop = np.ascontiguousarray(image[: SIZE[1], x : x + SIZE[0]])
        frame = av.VideoFrame.from_ndarray(crop, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index, Fraction(1, 24)
        frames.append(frame)
    return frames


def with_noise(frames: list[av.VideoFrame], sigma: float, seed: int = 0) -> list[av.VideoFrame]:
    rng = np.random.default_rng(seed)
    noisy = []
    for frame in frames:
        planes = frame.to_ndarray()  # yuv420p: (H * 3/2, W)
        y = planes[: SIZE[1]].astype(np.float32) + rng.normal(0, sigma, (SIZE[1], SIZE[0]))
        planes = planes.copy()
        planes[: SIZE[1]] = np.clip(y + 0.5, 0, 255).astype(np.uint8)
        out = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        out.pts, out.time_base = frame.pts, frame.time_base
        noisy.append(out)
    return noisy


def run(chain: str, frames: list[av.VideoFrame]) -> tuple[list[av.VideoFrame], float]:
    size = (1280, 540) if chain.startswith("scale") else None
    graph = VideoFilterGraph(chain, "yuv420p", frame_rate=Fraction(24), sample_aspect_ratio=Fraction(1), size=size)
    started = time.perf_counter()
    out = [filtered for frame in frames for filtered in graph.push(frame)] + graph.flush()
    return out, time.perf_counter() - started


def luma(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray()[: frame.height].astype(np.float64)


def psnr(a: list[av.VideoFrame], b: list[av.VideoFrame]) -> float:
    mse = np.mean([np.mean((luma(x) - luma(y)) ** 2) for x, y in zip(a, b)])
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path, nargs="?")
    parser.add_argument("--pan", type=Path, help="measure on a photo panned across instead of the clip")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0, 3, 5, 10, 20])
    parser.add_argument("--skip-costs", action="store_true")
    parser.add_argument("--costs-only", action="store_true")
    args = parser.parse_args()
    clean = panned_frames(args.pan, args.frames) if args.pan else clean_frames(args.clip, args.frames)
    print(f"{len(clean)} frames at {SIZE[0]}x{SIZE[1]}")
    if not args.skip_costs:
        noisy = with_noise(clean, 10)
        print("| filter | fps (graph alone) |\n|---|---|")
        for name, chain in COSTS.items():
            out, seconds = run(chain, noisy)
            print(f"| {name} | {len(clean) / seconds:.1f} |", flush=True)
    if args.costs_only:
        return
    print("\n| denoiser | fps | " + " | ".join(f"Y-PSNR, σ={s:g}" for s in args.sigmas) + " |\n|---|---|" + "---|" * len(args.sigmas))
    noisy_sets = {sigma: with_noise(clean, sigma, seed=int(sigma)) for sigma in args.sigmas}
    header = [f"{psnr(noisy_sets[s], clean):.2f}" for s in args.sigmas]
    print("| noisy input | – | " + " | ".join(header) + " |")
    for name, chain in DENOISERS.items():
        cells, fps = [], 0.0
        for sigma in args.sigmas:
            out, seconds = run(chain, noisy_sets[sigma])
            fps = len(clean) / seconds
            cells.append(f"{psnr(out, clean):.2f}")
        print(f"| {name} | {fps:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
