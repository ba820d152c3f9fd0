"""`vsr eval`: PSNR/SSIM of a model against bicubic on a folder of HR images or video frames."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from vsr.cli.common import (
    DEBUG_HELP, QUIET_HELP, THREADS_HELP, one_line_errors, one_of, progress_bar, setup_logging, use_threads,
)

log = logging.getLogger("vsr.cli.evaluate")


PRECISIONS = ("fp32", "fp16", "bf16")
"""The precisions a model is evaluated in (vsr.device.EXPLICIT_PRECISIONS, named here: torch is not loaded for --help)."""


def eval_command(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name (see `vsr models`) or a checkpoint file (required with --mode single); with --mode multi, the single-frame model (default: the best shipped one)."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", help="Scale factor: 2, 3 or 4 (default: a weight file's own scale, else 4)."),
    data: Path = typer.Option(..., "--data", "-d", help="Folder of HR images or video frames."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the per-image results here (JSON; an existing file only with --overwrite, never one inside --data)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
    border: Optional[int] = typer.Option(None, "--border", min=0, help="--mode single: pixels cropped at each side (default: the scale)."),
    precision: str = typer.Option("fp32", "--precision", metavar="|".join(PRECISIONS), callback=one_of(*PRECISIONS), help="fp32, or bf16/fp16 for models declared half-safe."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N images (--mode multi: the first N frames of each sequence)."),
    fps: bool = typer.Option(False, "--fps", help="--mode single: also measure the model's speed on a 960x540 input (CPU)."),
    mode: str = typer.Option("single", "--mode", metavar="single|multi", callback=one_of("single", "multi"), help="single: a folder of images, paper protocol; multi: a folder of video sequences (e.g. Vid4), bicubic vs single-frame vs multi-frame."),
    frames: Optional[int] = typer.Option(None, "--frames", help="--mode multi: frames in the window (odd; default 5)."),
    ensemble: bool = typer.Option(False, "--ensemble", help="Run every network on the 8 flips and rotations of its input and average them (self-ensemble: sharper, 8 times the time)."),
    fusion_model: Optional[str] = typer.Option(None, "--fusion-model", help="--mode multi: the multi-frame model of the 'learned' row (name or checkpoint file; default: the shipped one at the scale, if any)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help=THREADS_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Evaluate MODEL under the paper protocol: Y-channel PSNR/SSIM, border = scale, LR by MATLAB-style bicubic."""
    setup_logging(debug=debug, quiet=quiet)
    with one_line_errors(debug=debug):
        use_threads(threads)
        from vsr.errors import ConfigError
        from vsr.eval.evaluate import check_fps_precision, evaluate_folder, measure_fps
        from vsr.models import default_scale, resolve

        given = {"--border": border is not None, "--fps": fps} if mode == "multi" else {
            "--frames": frames is not None, "--fusion-model": fusion_model is not None}
        if unused := [flag for flag, on in given.items() if on]:
            raise ConfigError(f"{' and '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to --mode {mode}")
        _check_json_target(json_out, data, overwrite)
        scale = scale if scale is not None else default_scale(model)
        if mode == "multi":
            if model is not None:
                _check_single_frame(resolve(model, scale), model, mode)
            _evaluate_multi(data, model, scale, 5 if frames is None else frames, precision, limit, json_out, quiet,
                            fusion_model, ensemble)
            return
        if model is None:
            raise ConfigError("--model is required with --mode single")
        if fps:
            check_fps_precision(precision)  # before the evaluation, not after it
        sr = resolve(model, scale)
        _check_single_frame(sr, model, mode)
        bars = []

        def advance(_result) -> None:  # the bar made at the first image: a folder refused leaves no bar line
            if not bars:
                bars.append(progress_bar(unit="img", desc=f"{sr.name} x{sr.scale}", leave=False))
            bars[0].update(1)

        try:
            report = evaluate_folder(sr, data, border=border, precision=precision, limit=limit, ensemble=ensemble,
                                     progress=None if quiet else advance)
        finally:
            for bar in bars:
                bar.close()
        report.extra.update(_identity(model, sr))
        if fps:
            report.extra["fps_540p"] = measure_fps(sr, precision=precision)
        width = max(len(r.name) for r in report.images)
        lines = [f"{'image':<{width}}  {'PSNR':>7} {'SSIM':>7}   {'bicubic':>7} {'SSIM':>7}   {'time':>7}"]
        for r in report.images:
            lines.append(f"{r.name:<{width}}  {r.psnr:7.3f} {r.ssim:7.4f}   {r.bicubic_psnr:7.3f} "
                         f"{r.bicubic_ssim:7.4f}   {r.seconds:6.3f}s")
        lines.append(f"{'mean':<{width}}  {report.mean('psnr'):7.3f} {report.mean('ssim'):7.4f}   "
                     f"{report.mean('bicubic_psnr'):7.3f} {report.mean('bicubic_ssim'):7.4f}   "
                     f"{report.model_seconds:6.2f}s total")
        typer.echo("\n".join(lines))
        typer.echo(f"{sr.name} x{sr.scale} on {data} ({len(report.images)} images, border {report.border}, "
                   f"{precision}{', self-ensemble' if ensemble else ''}): Y-PSNR {report.mean('psnr'):.2f} dB / SSIM {report.mean('ssim'):.4f} "
                   f"vs bicubic {report.mean('bicubic_psnr'):.2f} / {report.mean('bicubic_ssim'):.4f}; "
                   f"wall time {report.wall_seconds:.1f} s")
        if fps:
            typer.echo(f"speed: {report.extra['fps_540p']:.2f} fps on a 960x540 luma input (CPU, {precision})")
        if json_out is not None:
            _write_json(json_out, report.to_dict())


def _check_single_frame(sr, given: str, mode: str) -> None:
    """ConfigError for a model the protocol cannot evaluate as a single-frame upscaler (`given` as
    -m named it, in `mode`)."""
    from vsr.errors import ConfigError
    from vsr.options import CLEANUP_SCALE

    if sr.is_multi_frame:
        how = "" if mode == "multi" else "--mode multi "
        raise ConfigError(f"{sr.name} is a multi-frame model, not the single-frame one -m names: evaluate it with "
                          f"{how}--fusion-model {given}")
    if sr.scale == CLEANUP_SCALE:
        raise ConfigError(f"{sr.name} x1 is a clean-up model: its clean input is the target itself, so the "
                          "benchmark protocol says nothing; measure it on damaged video "
                          "(python3 scripts/restore_table.py --scale 1)")


def _identity(given: str, sr) -> dict[str, str | None]:
    """What tells one model's figures from another's in --json: the weight file -m named (None for
    a shipped or built-in model) and the SHA-256 of the weights (as vsr.models.checkpoint counts it;
    "" for an interpolation)."""
    from vsr.models import is_weight_file
    from vsr.models.checkpoint import weights_sha256

    state = sr.module.state_dict()
    return {"model_file": str(Path(given).resolve()) if is_weight_file(given) else None,
            "weights_sha256": weights_sha256({"state_dict": state}) if sr.learned and state else ""}


def _check_json_target(path: Path | None, data: Path, overwrite: bool) -> None:
    """Refuse, before any evaluation, a --json target that cannot or may not be written: a folder,
    a file inside the data (an image evaluated, or one a later run would read), an existing file
    without `overwrite`."""
    from vsr.errors import OutputError

    if path is None:
        return
    if path.is_dir():
        raise OutputError(f"--json {path} is a folder; give a file name, e.g. {path / 'eval.json'}")
    if path.resolve().is_relative_to(data.resolve()):
        raise OutputError(f"--json {path} is inside the data folder {data}; write the results elsewhere")
    if path.exists() and not overwrite:
        raise OutputError(f"--json {path} exists; pass --overwrite to replace it")


def _write_json(path: Path, value: dict) -> None:
    from vsr.files import json_text, write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json_text(value))


def _evaluate_multi(
    data: Path, model: str | None, scale: int, frames: int, precision: str, limit: int | None,
    json_out: Path | None, quiet: bool, fusion_model: str | None, ensemble: bool,
) -> None:
    """Bicubic, the single-frame model and the multi-frame modes, side by side, per sequence."""
    from vsr.eval.video import evaluate_video, format_video_report

    report = evaluate_video(
        data, model=model, scale=scale, frames=frames, max_frames=limit, precision=precision, fusion_model=fusion_model,
        ensemble=ensemble, progress=None if quiet else (lambda sequence, method: typer.echo(f"vsr: {sequence}: {method} done", err=True)),
    )
    typer.echo(format_video_report(report))
    if json_out is not None:
        _write_json(json_out, report.to_dict())
