"""`vsr train --config configs/train/<name>.toml`: train a model and write its self-describing weight file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vsr.cli.common import DEBUG_HELP, QUIET_HELP, one_line_errors, progress_bar, setup_logging


def train_command(
    config_file: Optional[Path] = typer.Argument(None, metavar="CONFIG", show_default=False, help="The training config, as --config gives it."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Training config (TOML), e.g. configs/train/espcn_x4.toml."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint."),
    max_minutes: Optional[float] = typer.Option(
        None, "--max-minutes", min=0.0, help="Stop (resumably) after this many minutes of wall time."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: CUDA if available)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Train a super-resolution model from a config; the final model file is written to the run folder
    (and to `ship_to` when the config names one)."""
    if (config is None) == (config_file is None):  # a usage mistake, as typer's own: exit 2
        raise typer.BadParameter("give it once: vsr train configs/train/NAME.toml (or --config FILE)",
                                 param_hint="the training config")
    config = config or config_file
    setup_logging(debug=debug, quiet=quiet)
    with one_line_errors(debug=debug):
        from vsr.errors import ConfigError
        from vsr.train.config import load_config
        from vsr.train.loop import train

        cfg = load_config(config)
        state = Path(cfg.train.output).expanduser() / "last.pt"  # as the training reads it
        if state.exists() and not resume:
            raise ConfigError(f"{state} exists: add --resume to continue that run, or delete {cfg.train.output} to start over")
        bars = []

        def on_step(p) -> None:
            if not bars:  # made at the first step: a resumed run's bar starts where it resumed (its rate from there)
                bars.append(progress_bar(total=cfg.train.iterations, initial=p.iteration - 1, unit="it",
                                         desc=f"{cfg.model.arch} x{cfg.model.scale}"))
            bar = bars[0]
            bar.update(1)
            post = {"loss": f"{p.loss:.4f}"}
            if p.val_psnr is not None:
                post["val_psnr"] = f"{p.val_psnr:.2f}"
            bar.set_postfix(post, refresh=False)

        try:
            train(cfg, resume=resume, device=device, max_seconds=None if max_minutes is None else 60.0 * max_minutes,
                  progress=None if quiet else on_step)  # its last line says how it ended
        finally:
            for bar in bars:
                bar.close()
