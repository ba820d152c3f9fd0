"""Named errors. The CLI turns every VsrError into a one-line message and a non-zero exit."""

from __future__ import annotations


class VsrError(Exception):
    """Base class of every error that vsr reports to a user as one line."""


class InputError(VsrError):
    """The input is missing, unreadable, or not something vsr can upscale."""


class OutputError(VsrError):
    """The output cannot be written where it was asked for."""


class UnsupportedModelError(VsrError):
    """An unknown model name, or a scale the model does not provide."""


class ConfigError(VsrError):
    """A configuration file or option is invalid."""


class PipelineError(VsrError):
    """A stage of the pipeline failed; `stage` names it."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
