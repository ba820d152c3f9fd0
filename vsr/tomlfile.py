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
