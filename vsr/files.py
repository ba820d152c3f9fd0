"""Files written whole or not at all, and the digest of a file's bytes.

    with atomic_path(target) as temp:       # write temp; it becomes target only if the block ends well
        temp.write_bytes(data)
    write_text_atomic(target, text)
    file_sha256(path)                       # hex sha256, read in 1 MiB chunks

The temporary file sits beside the target (same folder, so os.replace is an atomic rename on
POSIX), is named `.<target name>.tmp-<pid>-<random>` (TEMP_MARK marks it, for a sweep of the
ones a killed process left), and is removed whenever the block raises, including on
KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vsr.errors import OutputError

HASH_CHUNK = 1 << 20
TEMP_MARK = ".tmp-"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, hex (read in 1 MiB chunks: memory does not grow with the file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


NAME_MAX = 255
"""The longest file name (bytes) the file systems vsr writes to take."""


def fitting_name(name: str, extra: int) -> str:
    """`name` as a longer name built on it holds it, `extra` bytes added: as it is where that fits
    NAME_MAX, else cut (on a character) and marked with a hash of the whole name, so that two long
    names that begin alike do not become one."""
    whole = os.fsencode(name)
    if len(whole) + extra <= NAME_MAX:
        return name
    mark = "~" + hashlib.sha1(whole).hexdigest()[:8]
    kept = whole[:NAME_MAX - extra - len(mark)]
    for back in range(1, 4):  # a UTF-8 character the cut split: left out whole (other bytes kept as they are)
        if len(kept) >= back and kept[-back] & 0xC0 == 0xC0:  # the lead byte of the last character
            if back < (2 if kept[-back] < 0xE0 else 3 if kept[-back] < 0xF0 else 4):
                kept = kept[:-back]
            break
        if len(kept) < back or kept[-back] & 0xC0 != 0x80:  # not a continuation byte: nothing was split
            break
    return os.fsdecode(kept) + mark


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside `target`."""
    room = len(".") + len(TEMP_MARK) + 7 + len("-") + 8  # a pid of up to 7 digits
    return target.with_name(f".{fitting_name(target.name, room)}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` to write; renamed onto `target` when the block ends
    without an error; removed (if it was made) when the block or the rename raises."""
    temp = temp_path(target)
    try:
        yield temp
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_text_atomic(target: Path, text: str) -> None:
    """Write `text` to `target` whole or not at all; OutputError where it cannot be (a full disk)."""
    write_bytes_atomic(target, text.encode())


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` whole or not at all; OutputError where it cannot be (a full disk)."""
    try:
        with atomic_path(target) as temp:
            temp.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def json_text(value: Any) -> str:
    """`value` as indented JSON that any parser reads: NaN as null, an infinity (the PSNR of
    identical images) as the string "inf" or "-inf" (json.dumps writes NaN and Infinity, which are not JSON)."""
    return json.dumps(_json_safe(value), indent=2, allow_nan=False) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value
