"""The restoration table: Vid4 frames → the LR protocol → `vsr upscale` → Y-PSNR.

Each Vid4 sequence (first 31 frames) is cropped to a multiple of the scale, downscaled with the
MATLAB-style antialiased bicubic (RGB), converted to 4:2:0 and written as a 25 fps clip in one of
these conditions:

  clean     lossless (libx264 -qp 0): the benchmark's BI input
  crf25     libx264 CRF 25 (preset medium)
  crf35     libx264 CRF 35
  noise10   Gaussian noise of sigma 10 levels on the LR luma, lossless

Every model upscales the clip through `vsr.upscale_video` (the same pipeline as `vsr upscale`:
bf16 on a CPU for half-safe models), written losslessly; the table is the mean over the four
sequences of the per-frame Y-PSNR (BT.601 luma of the ground truth, border 0).

    python3 scripts/restore_table.py --models bicubic,residual,fsrcnn,restore,restore-fast

At --scale 1 the clip keeps the frames' size and the models are clean-up (x1) models; `input`
names the decoded clip itself (after --deblock / --denoise if given, `temporal` included), the
baseline there:

    python3 scripts/restore_table.py --scale 1 --models input,restore,stream
    python3 scripts/restore_table.py --scale 1 --models input --denoise medium

--frame-types adds the same means per x264 picture type (I / P / B) of the LR clip, with the mean
macroblock QP of each type as the decoder exports it (frames per type pooled over the sequences).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.sidedata.encparams import VideoEncParams
from av.video.frame import PictureType

from vsr.eval.metrics import psnr, rgb_to_y8
from vsr.eval.protocol import degrade_rgb, image_files, mod_crop, read_rgb
from vsr.media.filterplan import plan_filters
from vsr.media.probe import probe
from vsr.misr.denoise import TemporalDenoiser
from vsr.options import EncodeOptions, FilterOptions, ModelOptions, MultiFrameOptions, UpscaleOptions
from vsr.pipeline.run import upscale_video

VID4 = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "Vid4"
TEMPORAL = "temporal"
INPUT = "input"
"""The decoded clip itself, as a model name (--scale 1: the baseline of the clean-up models)."""
CONDITIONS = {"clean": ("qp0", 0.0), "crf25": ("25", 0.0), "crf35": ("35", 0.0), "noise10": ("qp0", 10.0)}


def write_lr_clip(frames: list[np.ndarray], path: Path, crf: str, noise_sigma: float, seed: int) -> None:
    """RGB LR frames → a 25 fps yuv420p H.264 clip (lossless for crf "qp0"), luma noise added."""
    rng = np.random.default_rng(seed)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"qp": "0"} if crf == "qp0" else {"crf": crf, "preset": "medium"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            if noise_sigma > 0:
                luma = frame.to_ndarray()[:height].astype(np.float32)
                noisy = np.clip(np.rint(luma + rng.normal(0.0, noise_sigma, luma.shape)), 0, 255).astype(np.uint8)
                rows = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)
                rows[:height, :width] = noisy
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def luma_frames(path: Path, filters: dict | None = None) -> list[np.ndarray]:
    """The clip's luma planes, through the filters `filters` asks for (FilterOptions fields): FFmpeg's,
    then `--denoise temporal` (vsr.misr.denoise) as the pipeline runs it."""
    temporal = bool(filters) and filters.get("denoise") == TEMPORAL
    ffmpeg = {**filters, "denoise": "off"} if temporal else filters
    frame_filter = plan_filters(probe(path), FilterOptions(**ffmpeg), "yuv420p").frame_filter() if ffmpeg else None
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    if frame_filter is not None:
        frames = [out for frame in frames for out in frame_filter.push(frame)] + frame_filter.flush()
    lumas = [f.to_ndarray(format="yuv420p")[: f.height] for f in frames]
    return temporal_denoised(lumas) if temporal else lumas


def picture_types(path: Path) -> list[tuple[str, float]]:
    """(x264 picture type I/P/B, mean macroblock QP) of every frame of an H.264 clip, from the
    encoding parameters the decoder exports."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"export_side_data": "venc_params"}
        out = []
        for frame in container.decode(stream):
            params = [d for d in frame.side_data if isinstance(d, VideoEncParams)]
            qp = float(np.mean(params[0].qp_map())) if params else float("nan")
            out.append((PictureType(int(frame.pict_type)).name, qp))
    return out


def temporal_denoised(lumas: list[np.ndarray]) -> list[np.ndarray]:
    """8-bit luma planes through `--denoise temporal`'s denoiser, each once its window has arrived."""
    denoiser = TemporalDenoiser()
    out: list[np.ndarray] = []

    def emit() -> None:
        index = len(out)
        planes, _ = denoiser.denoise(index, {i: [lumas[i]] for i in denoiser.window(index)})
        out.append(planes[0])
        denoiser.release(index + 1)

    for plane in lumas:
        denoiser.push(plane)
        while len(out) < denoiser.count and denoiser.ready(len(out)):
            emit()
    denoiser.finish()
    while len(out) < len(lumas):
        emit()
    return out


def run(models: list[str], conditions: list[str], scale: int, frames: int, filters: dict, mode: str = "single",
        sequences: list[str] | None = None, ensemble: bool = False,
        by_type: dict[tuple[str, str, str], list[float]] | None = None) -> dict[tuple[str, str], float]:
    """Mean Y-PSNR per (model, condition); with `by_type`, also every frame's Y-PSNR under (model,
    condition, picture type), and its QP under ("QP", condition, picture type)."""
    scores: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seq_index, seq in enumerate(sorted(p for p in VID4.iterdir() if p.is_dir())):
            if sequences and seq.name not in sequences:
                continue
            gt = [mod_crop(read_rgb(p), scale) for p in image_files(seq)[:frames]]
            gt_y = [rgb_to_y8(f) for f in gt]
            lr = [degrade_rgb(f, scale) for f in gt]
            for condition in conditions:
                crf, sigma = CONDITIONS[condition]
                clip = Path(tmp) / f"{seq.name}_{condition}.mp4"
                write_lr_clip(lr, clip, crf, sigma, seed=seq_index)
                types = picture_types(clip) if by_type is not None else []
                for kind, qp in types:
                    by_type.setdefault(("QP", condition, kind), []).append(qp)
                for number, model in enumerate(models):  # a name or a weight file's path
                    if model == INPUT:
                        sr = luma_frames(clip, filters)
                    else:
                        out = Path(tmp) / f"{seq.name}_{condition}_{number}.mkv"
                        options = UpscaleOptions(model=ModelOptions(name=model, scale=scale, ensemble=ensemble),
                                                 encode=EncodeOptions(codec="ffv1", crf=None, preset=None),
                                                 multi_frame=MultiFrameOptions(mode=mode))
                        upscale_video(clip, out, options=options.replace(run={"overwrite": True}, filters=filters))
                        sr = luma_frames(out)
                    values = [psnr(s, g, border=0) for s, g in zip(sr, gt_y, strict=True)]
                    if by_type is not None:
                        for (kind, _), frame_value in zip(types, values, strict=True):
                            by_type.setdefault((model, condition, kind), []).append(frame_value)
                    value = float(np.mean(values))
                    scores.setdefault((model, condition), []).append(value)
                    print(f"{seq.name:8s} {condition:8s} {model:14s} {value:6.2f}", flush=True)
    return {key: float(np.mean(values)) for key, values in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bicubic,residual,fsrcnn,restore,restore-fast")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--frames", type=int, default=31)
    parser.add_argument("--deblock", action="store_true", help="FFmpeg's deblock before every model")
    parser.add_argument("--denoise", default="off", help="a --denoise preset before every model")
    parser.add_argument("--mode", default="single", choices=["single", "multi"],
                        help="multi: each model's estimate fused over a 5-frame window (vsr upscale --mode multi)")
    parser.add_argument("--sequences", default="", help="only these Vid4 sequences (comma-separated)")
    parser.add_argument("--ensemble", action="store_true", help="every model on the 8 flips and rotations (vsr upscale --ensemble)")
    parser.add_argument("--frame-types", action="store_true",
                        help="also the means per picture type (I/P/B) of the LR clip, with its mean QP")
    args = parser.parse_args()
    models, conditions = args.models.split(","), args.conditions.split(",")
    started = time.monotonic()
    filters = {"deblock": args.deblock, "denoise": args.denoise}
    sequences = [s for s in args.sequences.split(",") if s]
    by_type: dict[tuple[str, str, str], list[float]] | None = {} if args.frame_types else None
    table = run(models, conditions, args.scale, args.frames, filters, args.mode, sequences, args.ensemble, by_type)
    print(f"\nVid4 x{args.scale}, {args.frames} frames, {args.mode}-frame{', self-ensemble' if args.ensemble else ''}, Y-PSNR border 0 "
          f"({time.monotonic() - started:.0f} s)\n")
    print("| model | " + " | ".join(conditions) + " |")
    print("|---|" + "---|" * len(conditions))
    for model in models:
        print(f"| `{model}` | " + " | ".join(f"{table[(model, c)]:.2f}" for c in conditions) + " |")
    if by_type:
        print_by_type(by_type, models, conditions)


def print_by_type(by_type: dict[tuple[str, str, str], list[float]], models: list[str], conditions: list[str]) -> None:
    """Per condition, a row per picture type: frames, mean QP, each model's mean Y-PSNR."""
    print("\n| condition | type | frames | mean QP | " + " | ".join(f"`{m}`" for m in models) + " |")
    print("|---|---|---|---|" + "---|" * len(models))
    for condition in conditions:
        for kind in ("I", "P", "B"):
            qps = by_type.get(("QP", condition, kind))
            if qps:
                cells = [f"{np.mean(by_type[(m, condition, kind)]):.2f}" for m in models]
                print(f"| {condition} | {kind} | {len(qps)} | {np.mean(qps):.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
