"""Before/after crops of `--restore` on real footage, for the README (docs/restore_*.png).

Three inputs are made from Big Buck Bunny (CC-BY 3.0, ../shared/data/clips/big_buck_bunny_0_30.webm):

  compressed   480x270 at 24 fps through libx264 CRF 35 (early web video)
  interlaced   720x480 SD at 29.97 fps, 4:2:0 MPEG-2 at 3 Mbit/s with every frame woven from two
               moments 1/60 s apart (a 60i TV capture: the fields come from alternate source
               frames of an interpolated 60 fps sequence), flagged top field first
  noisy        640x360 at 24 fps with Gaussian noise of sigma 10 levels on the luma, lossless
               (a noisy tape or a low-light camera)

The first two are upscaled x2 with `vsr upscale` as a user would: bicubic, the super-resolution
model `residual`, and `--restore`. The noisy one is cleaned at its own size: FFmpeg's nlmeans
(`--denoise medium`'s settings), `restore` x1 alone (`--restore --denoise off`) and `vsr upscale
--scale 1 --restore` (temporal denoising, then `restore` x1). One frame's crop of each
result is placed side by side with its label.

    python3 scripts/restore_crops.py --out docs [--only restore_noisy.png]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vsr.media.filterplan import DENOISE_PRESETS
from vsr.media.filters import VideoFilterGraph

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "big_buck_bunny_0_30.webm"
START_SECONDS = 12.0
SECONDS = 2.0


def source_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """RGB frames of the source from START_SECONDS, resized to width x height (area)."""
    frames = []
    with av.open(str(SOURCE)) as container:
        stream = container.streams.video[0]
        container.seek(int(START_SECONDS / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            if frame.time < START_SECONDS:
                continue
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def write_compressed(path: Path) -> None:
    frames = source_frames(480, 270, int(24 * SECONDS))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 480, 270, "yuv420p"
        stream.options = {"crf": "35", "preset": "medium"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_interlaced(path: Path) -> None:
    """Fields from alternate moments: frame k's top field from moment 2k, its bottom from 2k + 1,
    the moments blended between the 24 fps source frames (a stand-in for a 60i camera)."""
    frames = [f.astype(np.float32) for f in source_frames(720, 480, int(24 * SECONDS) + 2)]
    rate = Fraction(30000, 1001)
    count = int(float(rate) * SECONDS * 24 / 30) - 1
    field_flags = VideoFilterGraph("setfield=tff", "yuv420p")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg2video", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 720, 480, "yuv420p"
        stream.bit_rate = 3_000_000
        stream.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        for index in range(count):
            woven = np.empty_like(frames[0])
            for field, rows in ((0, slice(0, None, 2)), (1, slice(1, None, 2))):
                moment = (2 * index + field) * 24 / 60
                low = int(moment)
                t = moment - low
                woven[rows] = ((1 - t) * frames[low] + t * frames[low + 1])[rows]
            frame = av.VideoFrame.from_ndarray(np.clip(woven, 0, 255).astype(np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, 1 / rate
            [frame] = field_flags.push(frame)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_noisy(path: Path) -> None:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"qp": "0"}
        for index, rgb in enumerate(source_frames(640, 360, int(24 * SECONDS))):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            rows = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)
            luma = rows[:360, :640].astype(np.float32)
            rows[:360, :640] = np.clip(np.rint(luma + rng.normal(0.0, 10.0, luma.shape)), 0, 255).astype(np.uint8)
            frame.pts, frame.time_base = index, Fraction(1, 24)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def denoised_crops(clip: Path, work: Path, box: tuple[int, int, int, int], index: int) -> np.ndarray:
    """noisy | FFmpeg nlmeans (--denoise medium) | restore x1 alone | --restore --scale 1 (temporal
    denoising, then restore x1), the same box of frame `index`."""
    x, y, w, h = box
    noisy = frame_at(clip, index)
    graph = VideoFilterGraph(DENOISE_PRESETS["medium"], "yuv420p")
    with av.open(str(clip)) as container:
        frame = next(f for k, f in enumerate(container.decode(video=0)) if k == index)
        [filtered] = graph.push(frame) or graph.flush()
        # its luma into the decoded frame, whose colour tags the conversion to RGB then reads as for the others
        height, width = frame.height, frame.width
        rows = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)
        rows[:height, :width] = filtered.to_ndarray(format="yuv420p")[:height]
        nlmeans = frame.to_ndarray(format="rgb24")
    tiles = [(noisy, "noisy input"), (nlmeans, "FFmpeg nlmeans")]
    for label, flags in (("restore x1 alone", ["--denoise", "off"]), ("--restore -s 1", [])):
        out = work / f"noisy_restore{len(tiles)}.mkv"
        subprocess.run(["vsr", "upscale", str(clip), "-o", str(out), "--scale", "1", "--restore", "--codec", "ffv1",
                        "--overwrite", "-q", *flags], check=True)
        tiles.append((frame_at(out, index), label))
    return np.concatenate([labelled(image[y : y + h, x : x + w], label) for image, label in tiles], axis=1)


def frame_at(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == index:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path} has no frame {index}")


def labelled(image: np.ndarray, label: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (8 + 11 * len(label), 26), (0, 0, 0), -1)
    cv2.putText(out, label, (5, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def crops(clip: Path, work: Path, box: tuple[int, int, int, int], index: int) -> np.ndarray:
    """bicubic | residual | --restore, x2, the same box (x, y, w, h in output pixels) of frame `index`."""
    runs = {"bicubic": ["--model", "bicubic"], "residual": ["--model", "residual"], "--restore": ["--restore"]}
    x, y, w, h = box
    tiles = []
    for label, flags in runs.items():
        out = work / f"{clip.stem}_{label.strip('-')}.mkv"
        subprocess.run(["vsr", "upscale", str(clip), "-o", str(out), "--scale", "2", "--codec", "ffv1",
                        "--overwrite", "-q", *flags], check=True)
        tiles.append(labelled(frame_at(out, index)[y : y + h, x : x + w], label))
    return np.concatenate(tiles, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--only", default="", help="make only this panel (e.g. restore_noisy.png)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        compressed, interlaced, noisy = work / "compressed.mp4", work / "interlaced.mpg", work / "noisy.mp4"
        makers = {
            "restore_compressed.png": lambda: write_compressed(compressed) or crops(compressed, work, (300, 140, 320, 240), 30),
            "restore_interlaced.png": lambda: write_interlaced(interlaced) or crops(interlaced, work, (520, 300, 320, 240), 30),
            "restore_noisy.png": lambda: write_noisy(noisy) or denoised_crops(noisy, work, (200, 80, 240, 180), 30),
        }
        panels = {name: make() for name, make in makers.items() if args.only in ("", name)}
        for name, panel in panels.items():
            cv2.imwrite(str(args.out / name), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            print(f"wrote {args.out / name} ({panel.shape[1]}x{panel.shape[0]})")


if __name__ == "__main__":
    main()
