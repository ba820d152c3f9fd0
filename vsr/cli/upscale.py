"""`vsr upscale`: the command-line face of `vsr.upscale_video`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from tqdm import tqdm

from vsr.cli.common import DEBUG_HELP, QUIET_HELP, one_line_errors, setup_logging


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
    input: Path = typer.Argument(..., help="Video (.mp4 .mkv .mov .webm …) or image (.png .jpg .bmp) to upscale."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output path (default: <input>_x<scale>.<ext> beside the input); the container follows the extension."),
    scale: Optional[int] = typer.Option(None, "-s", "--scale", help="Upscaling factor: 2, 3 or 4 (default: a weight file's own scale, else 4)."),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model name (see `vsr models`) or the path of a weight file written by `vsr train` (default: the best shipped model for the scale). With --mode multi, a multi-frame model (multiframe_refine) fuses with its network."),
    device: Device = typer.Option(Device.auto, "--device", help="Where the model runs (auto: CUDA if present)."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Model precision (auto: fp16 on CUDA, bf16 on CPUs with native bf16, where the model allows)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Frames per model call (default: from the frame size)."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Video encoder (default: libx264; libvpx-vp9 for .webm)."),
    crf: int = typer.Option(18, "--crf", help="Constant rate factor of the encoder (lower is better quality)."),
    preset: str = typer.Option("medium", "--preset", help="Encoder preset (x264/x265: ultrafast … veryslow)."),
    pix_fmt: Optional[str] = typer.Option(None, "--pix-fmt", help="Output pixel format (default: the input's where possible, else yuv420p)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames (a preview; audio stops there too)."),
    mode: Mode = typer.Option(Mode.single, "--mode", help="single: each frame on its own; multi: align and fuse the neighbouring frames too (sharper, steadier, slower)."),
    frames: int = typer.Option(5, "--frames", min=1, max=15, help="Multi-frame window: the frame and its neighbours, an odd number (5: t-2 … t+2)."),
    vf: str = typer.Option("", "--vf", metavar="GRAPH", help='An FFmpeg filter graph applied before upscaling, e.g. "yadif,atadenoise".'),
    debug_dir: Optional[Path] = typer.Option(None, "--debug-dir", file_okay=False, help="Multi-frame mode: write the alignment confidence maps of the first frames here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output file if it exists."),
    segment_seconds: Optional[float] = typer.Option(None, "--segment-seconds", min=0.001, help="Run in segments of about this many seconds, cut at keyframes, each upscaled into a work folder and then joined (an interrupted run can continue with --resume)."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", file_okay=False, help="With --segment-seconds: the work folder for the segments and their manifest (default: .<output name>.vsr-work beside the output)."),
    resume: bool = typer.Option(False, "--resume", help="With --segment-seconds: continue the run whose work folder exists, upscaling only the segments it has not finished (same input and options)."),
    keep_work: bool = typer.Option(False, "--keep-work", help="With --segment-seconds: keep the work folder after a successful join (it is always kept when the run fails)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help=QUIET_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Upscale a video, keeping its audio, timestamps and colour metadata (or a still image)."""
    from vsr.models import default_scale
    from vsr.options import EncodeOptions, FilterOptions, ModelOptions, MultiFrameOptions, RunOptions, UpscaleOptions
    from vsr.pipeline.run import upscale_video
    from vsr.segments.run import upscale_in_segments

    setup_logging(debug=debug, quiet=quiet)
    with one_line_errors(debug=debug):
        _check_segment_flags(segment_seconds, work_dir=work_dir, resume=resume, keep_work=keep_work)
        scale = scale if scale is not None else default_scale(model)
    options = UpscaleOptions(
        model=ModelOptions(
            name=model, scale=scale, device=device.value, precision=precision.value, batch_size=batch_size
        ),
        multi_frame=MultiFrameOptions(mode=mode.value, frames=frames, debug_dir=debug_dir),
        filters=FilterOptions(video=vf),
        encode=EncodeOptions(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt),
        run=RunOptions(overwrite=overwrite, max_frames=max_frames),
    )
    with one_line_errors(debug=debug), _ProgressBar(disable=quiet) as bar:
        if segment_seconds is None:
            result = upscale_video(input, output, options=options, progress=bar.update)
        else:
            result = upscale_in_segments(
                input, output, options, segment_seconds=segment_seconds, work_dir=work_dir, resume=resume,
                keep_work=keep_work, progress=bar.update,
            )
    if not quiet:
        typer.echo(f"vsr: wrote {result.output} ({result.width}x{result.height}, {result.frames} frame{'s' if result.frames != 1 else ''}, {result.fps:.1f} fps)", err=True)


def _check_segment_flags(segment_seconds: float | None, **flags: object) -> None:
    """ConfigError for a segment option (--work-dir, --resume, --keep-work) given without --segment-seconds."""
    from vsr.errors import ConfigError

    given = [f"--{name.replace('_', '-')}" for name, value in flags.items() if value not in (None, False)]
    if segment_seconds is None and given:
        raise ConfigError(f"{', '.join(given)} only applies to a segmented run; add --segment-seconds")


class _ProgressBar:
    """A tqdm bar fed by the pipeline's progress callback: frames done / total, fps, ETA."""

    def __init__(self, disable: bool) -> None:
        self.disable = disable
        self.bar: tqdm | None = None

    def update(self, done: int, total: int | None) -> None:
        if self.disable:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit="frame", dynamic_ncols=True, leave=False, mininterval=0.5)
        if total and self.bar.total != total and done <= total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> "_ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
