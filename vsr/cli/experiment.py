"""`vsr experiment`: the command-line face of `vsr.experiment.run_experiment`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vsr.cli.common import DEBUG_HELP, QUIET_HELP, ProgressBar, one_line_errors, setup_logging
from vsr.cli.upscale import Device, Precision


def experiment(
    input: Path = typer.Argument(..., metavar="INPUT", help="The source video (the reference every result is scored against)."),
    output: Path = typer.Option(..., "-o", "--output", help="The experiment folder: cache, CSVs, results.json, summary.md, plots, crops. Rerunning into it computes only what is new."),
    config: Optional[Path] = typer.Option(None, "--config", dir_okay=False, help="An experiment TOML file (configs/experiments/); the flags below replace its values."),
    scales: Optional[str] = typer.Option(None, "--scales", help="Downscale factors, e.g. 1,2,4 (1: the direct encode, the anchor). Default 1,2,4."),
    crf: Optional[str] = typer.Option(None, "--crf", help="Constant rate factors, e.g. 18,23,28,33,38 (the default)."),
    bitrates: Optional[str] = typer.Option(None, "--bitrates", help="Target bitrates instead of CRFs, e.g. 500k,1M,2M,4M."),
    codec: Optional[str] = typer.Option(None, "--codec", help="libx264 (default), libx265, libvpx-vp9 or libsvtav1."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Encoder preset (default: medium): x264 names for every codec; VP9 also 0-8, SVT-AV1 0-13."),
    upscalers: Optional[str] = typer.Option(None, "--upscalers", help="bicubic, lanczos and model names or weight files, comma-separated (default: bicubic,lanczos,espcn). One with an x1 (clean-up) model, such as stream, also cleans the scale-1 encodes; its hull takes the better point at each rung. NAME+ensemble runs a model self-ensembled (8 flips and rotations, about 8x the time); NAME+multi fuses each frame with its aligned neighbours (--mode multi); a multi-frame model (multiframe_refine) fuses by itself."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="psnr,ssim,vmaf,vmaf_neg (default psnr,ssim,vmaf; PSNR-Y and SSIM-Y always run)."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="At most this many frames (default: all)."),
    start: Optional[float] = typer.Option(None, "--start", min=0.0, help="Start this many seconds after the source's first frame."),
    anchor: Optional[str] = typer.Option(None, "--anchor", help="The conventional upscaler the others are compared with (default: bicubic)."),
    device: Optional[Device] = typer.Option(None, "--device", help="Where the models run (auto: CUDA if present)."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help="Model precision (auto: as vsr upscale)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help="torch threads for the models and VMAF (0: torch's default; 1 is faster on a machine other jobs keep busy)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an experiment with other settings in the folder."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help=QUIET_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Does super-resolution save bits? Encode the source downscaled at every scale and rate, upscale
    it back with each upscaler, score it, and report hulls, BD-rates, plots and crops."""
    from vsr.experiment import make_settings, run_experiment

    setup_logging(debug=debug, quiet=quiet)
    with one_line_errors(debug=debug):
        settings = make_settings(
            config, scales=scales, crfs=crf, bitrates=bitrates, codec=codec, preset=preset, upscalers=upscalers,
            metrics=metrics, frames=frames, start=start, anchor=anchor, threads=threads,
            device=device.value if device else None, precision=precision.value if precision else None,
        )
    with one_line_errors(debug=debug), ProgressBar(disable=quiet, unit="step", desc="grid") as bar:
        result = run_experiment(input, output, settings, overwrite=overwrite, progress=bar.update)
    if not quiet:
        typer.echo(
            f"vsr: wrote {output}/summary.md ({len(result.points)} points: {result.points_run} computed, "
            f"{result.points_cached} from the cache; {result.wall_seconds:.0f} s)", err=True,
        )
    summary = output / "summary.md"
    if summary.is_file() and not quiet:
        typer.echo(summary.read_text())
