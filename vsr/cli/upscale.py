"""`vsr upscale`: the command-line face of `vsr.upscale_video`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vsr.cli.common import DEBUG_HELP, QUIET_HELP, ProgressBar, one_line_errors, one_of, report, setup_logging
from vsr.options import COLOUR_MATRICES, DEINTERLACE, DEINTERLACE_RATES, DENOISE


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Mode(str, Enum):
    single = "single"
    multi = "multi"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"




def upscale(
    input: Path = typer.Argument(..., metavar="INPUT", help="Video (.mp4 .mkv .mov .webm …), image (.png .jpg .tif .webp …), or a folder: its videos, or its images where it holds no video."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output path (default: <input>_x<scale>.<ext> beside the input, .mkv for an .avi, .ts, .mpg ... input); the container follows the extension."),
    scale: Optional[int] = typer.Option(None, "-s", "--scale", help="Upscaling factor: 2, 3 or 4 (default: a weight file's own scale, else 4); 1 cleans without upscaling, with a clean-up model (--restore for noisy footage, -m stream for heavily compressed video)."),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model name (see `vsr models`) or the path of a weight file written by `vsr train` (default: the best shipped model for the scale). With --mode multi, a multi-frame model (multiframe_refine) fuses with its network."),
    device: Device = typer.Option(Device.auto, "--device", help="Where the model runs (auto: CUDA if present)."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Model precision (auto: fp16 on CUDA, bf16 on CPUs with native bf16, where the model allows)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Frames per model call (default: from the frame size)."),
    ensemble: bool = typer.Option(False, "--ensemble", help="Run the model on the 8 flips and rotations of every frame and average them (self-ensemble): about 0.1 dB better, 8 times the model's time. For the last bit of quality when time does not matter."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Video encoder (default: libx264; libvpx-vp9 for .webm)."),
    crf: Optional[int] = typer.Option(None, "--crf", show_default=False, help="Constant rate factor of the encoder (lower is better quality; default 18; libx264, libx265, libvpx-vp9 and libsvtav1 take one)."),
    bitrate: Optional[str] = typer.Option(None, "--bitrate", metavar="RATE", help="Encode at this average bitrate instead of a CRF, e.g. 8M or 2500k (for encoders without a CRF, such as mpeg4 and mpeg2video)."),
    preset: str = typer.Option("medium", "--preset", help="Encoder preset: ultrafast … veryslow, placebo (x264/x265; VP9 and SVT-AV1 map them to their speeds, or take 0-8 and 0-13)."),
    pix_fmt: Optional[str] = typer.Option(None, "--pix-fmt", help="Output pixel format (default: the input's where possible, else yuv420p)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames (a preview; audio stops there too)."),
    mode: str = typer.Option("single", "--mode", metavar="single|multi", callback=one_of("single", "multi"), help="single: each frame on its own; multi: align and fuse the neighbouring frames too (sharper, steadier, slower)."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, max=15, show_default=False, help="With --mode multi (default 5), the window: the frame and its neighbours, an odd number (5: t-2 … t+2). A frame limit is --max-frames."),
    restore: bool = typer.Option(False, "--restore", help="Restore old footage: deinterlace (auto, unless --deinterlace says otherwise), denoise (temporal, unless --denoise says otherwise; frames with too little noise are left as they are) and upscale with the restoration model `restore` (x2, x4; x1 at --scale 1 denoises without upscaling), trained to remove compression artefacts, noise and blur instead of sharpening them; --model restore-fast for the fast one (x4)."),
    deinterlace: Optional[str] = typer.Option(None, "--deinterlace", metavar="|".join(DEINTERLACE), callback=one_of(*DEINTERLACE), show_default=False, help="Deinterlace before upscaling (default: off; auto with --restore): auto (the frames' flags, the stream's field order, else FFmpeg's idet on the first 60 frames decide; bwdif when interlaced), or a deinterlacer by name for every frame."),
    deinterlace_rate: str = typer.Option("frame", "--deinterlace-rate", metavar="|".join(DEINTERLACE_RATES), callback=one_of(*DEINTERLACE_RATES), help="frame: one output frame per input frame; field: one per field (twice the frames and the rate, smoother motion; timestamps and audio follow)."),
    denoise: Optional[str] = typer.Option(None, "--denoise", metavar="|".join(DENOISE), callback=one_of(*DENOISE), show_default=False, help="Denoise before upscaling (default: off; temporal with --restore). temporal: each frame averaged with its 3 neighbours on each side, aligned by motion, where they agree within the noise level measured on the frame (the best for noisy footage; frames measured under 2 levels of noise are left as they are). light, medium, strong: FFmpeg's nlmeans for noise sigma about 5, 10, 20 (strong smooths fine texture too); 6 to 15 fps at 540p (strong is the slowest)."),
    deblock: bool = typer.Option(False, "--deblock", help="Smooth compression block edges before upscaling (FFmpeg's deblock)."),
    ivtc: bool = typer.Option(False, "--ivtc", help="Inverse telecine (fieldmatch + decimate): 29.97 fps telecined film back to 23.976 progressive frames (4 of every 5 kept); with --deinterlace, frames left combed are deinterlaced."),
    colour_matrix: str = typer.Option("keep", "--colour-matrix", metavar="|".join(COLOUR_MATRICES), callback=one_of(*COLOUR_MATRICES), help="keep: the source's colours, tagged on the output (an untagged SD source as BT.601); bt709: convert to the BT.709 matrix, for players and editors that ignore the tags."),
    square_pixels: bool = typer.Option(False, "--square-pixels", help="Resample an anamorphic source (DVD, sample aspect ratio not 1:1) to square pixels, stretching its short side, for editors that ignore the aspect ratio (default: the aspect ratio is kept as a tag)."),
    vf: str = typer.Option("", "--vf", metavar="GRAPH", help='An FFmpeg filter graph applied before upscaling (after the options above), e.g. "deband,unsharp".'),
    debug_dir: Optional[Path] = typer.Option(None, "--debug-dir", file_okay=False, help="Multi-frame mode: write the alignment confidence maps of the first frames here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output file if it exists."),
    segment_seconds: Optional[float] = typer.Option(None, "--segment-seconds", min=0.001, help="Run in segments of about this many seconds, cut at keyframes, each upscaled into a work folder and then joined (an interrupted run can continue with --resume)."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", file_okay=False, help="With --segment-seconds: the work folder for the segments and their manifest (default: .<output name>.vsr-work beside the output)."),
    resume: bool = typer.Option(False, "--resume", help="With --segment-seconds: continue the run whose work folder exists, upscaling only the segments it has not finished (same input and options)."),
    keep_work: bool = typer.Option(False, "--keep-work", help="With --segment-seconds: keep the work folder after a successful join (a run that fails or is stopped keeps it once a segment is finished, for --resume; but for an input that changed during the run)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Run in segments on this many Ray workers: a local Ray instance, the CPUs shared out, one GPU each where there are GPUs (implies a segmented run; default --segment-seconds: about 4 segments per worker, 4 to 60 s). Needs Ray: pip install '.\\[ray]' in the checkout."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="ADDRESS", help="Run the segments on an existing Ray cluster (auto, or ray://HOST:10001) instead of a local instance; vsr installed on every node, and the input, work folder and output on a filesystem every node sees at the same path."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help=f"{QUIET_HELP} A folder run still lists each file's outcome on stdout."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Upscale a video, keeping its audio, timestamps and colour metadata (or a still image, or every video or image in a folder)."""
    from vsr.models import default_scale
    from vsr.errors import ConfigError
    from vsr.options import (
        EncodeOptions, FilterOptions, ModelOptions, MultiFrameOptions, RunOptions, UpscaleOptions, parse_bitrate,
    )
    from vsr.pipeline.run import upscale_video
    from vsr.restore.preset import restore_options
    from vsr.segments.folder import upscale_folder
    from vsr.segments.run import upscale_in_segments

    setup_logging(debug=debug, quiet=quiet)
    segmented = segment_seconds is not None or workers is not None or ray_address is not None
    with one_line_errors(debug=debug):
        _refuse_unless(segmented, "to a segmented run; add --segment-seconds",
                       work_dir=work_dir, resume=resume, keep_work=keep_work)
        _refuse_unless(mode == "multi", "with --mode multi (a frame limit is --max-frames)", frames=frames)
        _refuse_unless(mode == "multi", "with --mode multi", debug_dir=debug_dir)
        rate = parse_bitrate(bitrate) if bitrate is not None else None
        if rate is not None and crf is not None:
            raise ConfigError("--crf and --bitrate both set the quality; give one of them")
        scale = scale if scale is not None else default_scale(model)
        runner = _ray_runner(workers, ray_address, device.value) if workers is not None or ray_address is not None else None
    options = UpscaleOptions(
        model=ModelOptions(
            name=model, scale=scale, device=device.value, precision=precision.value, batch_size=batch_size,
            ensemble=ensemble,
        ),
        multi_frame=MultiFrameOptions(mode=mode, frames=frames or MultiFrameOptions.frames, debug_dir=debug_dir),
        filters=FilterOptions(
            video=vf, deinterlace=deinterlace or "off", deinterlace_rate=deinterlace_rate, denoise=denoise or "off",
            deblock=deblock, ivtc=ivtc, colour_matrix=colour_matrix, square_pixels=square_pixels,
        ),
        encode=EncodeOptions(codec=codec, crf=EncodeOptions.crf if crf is None else crf, preset=preset, pix_fmt=pix_fmt,
                             bitrate=rate),
        run=RunOptions(overwrite=overwrite, max_frames=max_frames),
    )
    if restore:
        with one_line_errors(debug=debug):
            options = restore_options(options, deinterlace=deinterlace, denoise=denoise)
    try:
        with one_line_errors(debug=debug), ProgressBar(disable=quiet) as bar:
            if input.is_dir():
                outcomes = upscale_folder(
                    input, output, options, segment_seconds=segment_seconds, runner=runner, work_dir=work_dir,
                    resume=resume, keep_work=keep_work, progress=bar.update,
                )
            elif not segmented:
                result = upscale_video(input, output, options=options, progress=bar.update)
            else:
                result = upscale_in_segments(
                    input, output, options, segment_seconds=segment_seconds, work_dir=work_dir, resume=resume,
                    keep_work=keep_work, progress=bar.update, runner=runner,
                )
        if input.is_dir():
            for outcome in outcomes:
                report(outcome.line())
            if any(outcome.state == "failed" for outcome in outcomes):
                raise typer.Exit(1)
            return
        if not quiet:
            speed = "joined, none left to upscale" if result.frames_run == 0 else f"upscaled at {result.fps:.1f} fps"
            report(f"vsr: wrote {result.output} ({result.width}x{result.height}, {result.frames} frame{'s' if result.frames != 1 else ''}, {speed})", err=True)
    finally:  # Ray stopped after what became of the work is said: a signal while it stops has the line before its own
        if runner is not None:
            with one_line_errors(debug=debug):
                runner.close()


def _refuse_unless(enabled: bool, applies: str, **flags: object) -> None:
    """ConfigError naming the `flags` given (not None or False) when what they need is not `enabled`:
    "--work-dir only applies to a segmented run; ...". Such a flag would otherwise be ignored in silence."""
    from vsr.errors import ConfigError

    given = [f"--{name.replace('_', '-')}" for name, value in flags.items() if value not in (None, False)]
    if not enabled and given:
        raise ConfigError(f"{', '.join(given)} only applies {applies}")


def _ray_runner(workers: int | None, address: str | None, device: str):
    """The Ray runner of vsr.segments.distributed (Ray starts on first use); ConfigError saying how
    to install Ray where it is missing."""
    from vsr.errors import ConfigError

    try:
        from vsr.segments.distributed import RayRunner
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise ConfigError("--workers and --ray-address need Ray (the ray extra: pip install '.[ray]' in the vsr checkout)") from None
    return RayRunner(workers, address, device)
