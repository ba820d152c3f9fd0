"""The typer application behind the `vsr` command: each sub-command is a function in its own
module, registered here in the order `vsr --help` lists them."""

from __future__ import annotations

import typer
import typer.core

from vsr.cli.bench import bench
from vsr.cli.evaluate import eval_command
from vsr.cli.experiment import experiment
from vsr.cli.models import models
from vsr.cli.train import train_command
from vsr.cli.upscale import upscale

def _show_flags_without_a_type() -> None:
    """Typer 0.2x prints `<bool>` after every flag (`--overwrite <bool>`, even `--help <bool>`), which
    reads as if it took a value (`--overwrite true` is an error): flags show no type."""
    display = getattr(typer.core.TyperOption, "display_type_rich", None)
    if display is None or getattr(display, "vsr_flags", False):
        return

    def without_bool(self: typer.core.TyperOption, ctx):  # type: ignore[no-untyped-def]
        return None if self.is_flag and self.metavar is None else display(self, ctx)

    without_bool.vsr_flags = True  # type: ignore[attr-defined]
    typer.core.TyperOption.display_type_rich = without_bool  # type: ignore[method-assign]


_show_flags_without_a_type()

app = typer.Typer(
    name="vsr",
    help="Video super-resolution that keeps audio, timing and metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


OPENCV_PACKAGES = ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python")


def version_line() -> str:
    """vsr's version and those of what it runs on, read without importing torch."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from vsr.media.ladder import library_versions

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    libraries = library_versions()
    opencv = next((v for p in OPENCV_PACKAGES if (v := installed(p)) != "not installed"), "not installed")
    return (f"vsr {installed('vsr')} (PyAV {libraries['av']}, FFmpeg {libraries['ffmpeg']}, torch {installed('torch')}, "
            f"OpenCV {opencv}, Python {platform.python_version()})")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the versions of vsr, PyAV, FFmpeg, torch and OpenCV, and exit."),
) -> None:
    """Video super-resolution that keeps audio, timing and metadata."""


app.command("upscale")(upscale)
app.command("bench")(bench)
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("experiment")(experiment)
app.command("models")(models)
