"""`vsr bench`: per-stage and end-to-end throughput on a clip."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vsr.cli.common import DEBUG_HELP, THREADS_HELP, one_line_errors, setup_logging, use_threads
from vsr.cli.upscale import Device, Mode, Precision


def bench(
    input: Path = typer.Argument(..., metavar="INPUT", help="Video clip to measure on."),
    scale: Optional[int] = typer.Option(None, "-s", "--scale", help="Upscaling factor: 2, 3 or 4 (default: a weight file's own scale, else 4); 1 with a clean-up model."),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model name or the path of a weight file (default: the best shipped model for the scale)."),
    device: Device = typer.Option(Device.auto, "--device", help="Where the model runs (auto: CUDA if available), as vsr upscale."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Model precision (auto: as vsr upscale chooses it)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Frames per model call (default: chosen for the device and frame size)."),
    ensemble: bool = typer.Option(False, "--ensemble", help="Time the model self-ensembled (the 8 flips and rotations of every frame, as vsr upscale --ensemble; no naive baseline)."),
    mode: Mode = typer.Option(Mode.single, "--mode", help="single, or multi: each frame aligned and fused with its 2 neighbours on each side (as vsr upscale --mode multi; no naive baseline)."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Video encoder (default: as vsr upscale would write the clip: libx264; libvpx-vp9 for a .webm)."),
    crf: int = typer.Option(18, "--crf", help="Constant rate factor of the encode that is timed."),
    preset: str = typer.Option("medium", "--preset", help="Encoder preset of the encode that is timed (as vsr upscale --preset)."),
    frames: int = typer.Option(48, "--frames", min=1, help="How many frames from the start of the clip to measure on."),
    naive: bool = typer.Option(True, "--naive/--no-naive", help="Also time the naive baseline (batch 1, fp32, RGB on the CPU)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help=THREADS_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Print decode, model, upscale-stage, encode and end-to-end fps for the same frames of a clip."""
    from vsr.bench import run_benchmark
    from vsr.models import default_scale
    from vsr.options import EncodeOptions, ModelOptions, MultiFrameOptions, UpscaleOptions

    setup_logging(debug=debug, quiet=True)
    with one_line_errors(debug=debug):
        use_threads(threads)
        options = UpscaleOptions(
            model=ModelOptions(
                name=model, scale=scale if scale is not None else default_scale(model), device=device.value,
                precision=precision.value, batch_size=batch_size, ensemble=ensemble,
            ),
            encode=EncodeOptions(codec=codec, crf=crf, preset=preset),
            multi_frame=MultiFrameOptions(mode=mode.value),
        )
        report = run_benchmark(input, options, frames=frames, naive=naive)
    for line in report.lines():
        typer.echo(line)
