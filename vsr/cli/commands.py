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


def _usage_errors_on_one_line() -> None:
    """Typer frames a usage mistake (an unknown option, a missing argument, a value of the wrong
    type) in a box under the usage line, six lines or more; vsr's errors are one line: "vsr:
    error: no such option: --foo (see 'vsr upscale --help')", with the same exit status (2). The
    patch is typer's, for the process: another app's errors (a program that imports vsr's command
    has its own) are framed as they were."""
    try:
        import typer.rich_utils as rich_utils
    except ImportError:  # without rich, typer prints click's four plain lines
        return
    framed = getattr(rich_utils, "rich_format_error", None)
    if framed is None or getattr(framed, "vsr_one_line", False):  # another typer: its own way stays
        return

    def one_line(error) -> None:  # type: ignore[no-untyped-def]
        context = getattr(error, "ctx", None)
        if context is None or context.find_root().command.name != app.info.name:
            framed(error)
            return
        if type(error).__name__ == "NoArgsIsHelpError":  # `vsr` alone: the help is shown
            return
        message = " ".join(error.format_message().split()).rstrip(".").replace("Value error, ", "")  # pydantic's words
        if message[1:2].islower():  # "No such option" → "no such option"; "INPUT ..." stays
            message = message[0].lower() + message[1:]
        if "unexpected extra argument" in message and _takes(context, "-o"):
            message += "; the output goes after -o"  # `vsr upscale in.mp4 out.mp4`, as the Python API takes it
        typer.echo(f"vsr: error: {message} (see '{context.command_path} --help')", err=True)

    one_line.vsr_one_line = True  # type: ignore[attr-defined]
    rich_utils.rich_format_error = one_line


def _takes(context, option: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the command of a click context has `option`."""
    return any(option in getattr(param, "opts", ()) for param in context.command.params)


_usage_errors_on_one_line()

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
