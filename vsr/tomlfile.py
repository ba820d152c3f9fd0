"""Reading a TOML configuration file (tomllib) with one-line errors."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from vsr.errors import ConfigError


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed document. Raises ConfigError for a missing, unreadable or malformed file."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None


KIND_NAMES: dict[type, tuple[str, str]] = {
    bool: ("true or false", "true or false"), int: ("a whole number", "whole numbers"),
    float: ("a number", "numbers"), str: ("a string", "strings"),
}
"""How a configuration error names a kind of value: alone, and in a list."""


def is_kind(value: Any, kind: type) -> bool:
    """Whether a configuration value is of `kind`: any number where a float is asked for, never a
    bool for a number nor a number for a bool (TOML's true is not a 1)."""
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
