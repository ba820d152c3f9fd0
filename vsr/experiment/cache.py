"""The experiment folder DIR: its manifest, the cached encodes and scored points, atomic writes.

    DIR/experiment.json         what the folder's results mean: the source's sha256 and the
                                settings that every point shares (codec, preset, frames, ...)
    DIR/cache/encodes/KEY.mp4   one encoded rung, and KEY.json with its bytes and timings
    DIR/cache/points/KEY.json   one scored point (pooled metrics, timings) and KEY.csv its frames
    DIR/cache/crops/KEY.png     one point's crop tile (KEY: the point's key and the crop box, so
                                a run with another crop size cuts new tiles; crop_size is not
                                part of the identity)

A KEY is a hash of the manifest's identity, the version of the records (RECORDS) and the point
(scale, rate; upscaler and its weights' sha256, precision and metrics for a point), so a run with one more upscaler, CRF or scale only
computes what is new, and an interrupted run resumes. A folder made with other shared settings is
refused unless overwrite is asked for: then its cache goes, and so does its results.json, the
mark of a complete report (the folder now holds another experiment's settings); its tables,
plots and summary stay until the new run's report replaces them. Every file appears complete or not at all
(vsr.files.atomic_path: a temp file beside it, then os.replace); temp files a killed run left are
removed when the folder is opened.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from vsr.errors import ConfigError, OutputError
from vsr.files import TEMP_MARK, json_text, write_text_atomic

log = logging.getLogger(__name__)

SCHEMA = 1
RECORDS = 2
"""How the cached figures are made, part of every cache key: raised when a figure of a record
changes its meaning (2: a rung's bytes as stored in the file, not as the encoder gave them), so
that records made the old way are computed again rather than reused."""
MANIFEST = "experiment.json"
CACHE = "cache"
RESULTS = "results.json"
"""Written last by a report: a folder without it holds a report cut short (vsr.experiment.report)."""


def digest(value: Any) -> str:
    """A stable 20-hex-digit hash of a JSON-able value (dict keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_text(target: Path, text: str) -> None:
    """Write `text` to `target` atomically (vsr.files.write_text_atomic)."""
    write_text_atomic(target, text)


def write_json(target: Path, value: Any) -> None:
    """Write `value` as indented JSON to `target` atomically (vsr.files.json_text: NaN as null)."""
    write_text(target, json_text(value))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing or unreadable (a damaged cache entry
    is recomputed, not trusted)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class ExperimentDir:
    """The folder of one experiment (see the module docstring).

    identity: what every cached point shares (source sha256, codec, preset, frames, start, ...).
    Opening checks the folder: a manifest with another identity raises ConfigError naming what
    differs (unless overwrite, which removes the cache and results.json; the other outputs stay
    until the report replaces them); a folder that is not
    empty and holds no manifest raises OutputError (unless overwrite); a file in the way raises
    OutputError.
    """

    def __init__(self, root: Path, identity: dict[str, Any], *, overwrite: bool = False) -> None:
        self.root = root
        self.identity = {"schema": SCHEMA, **identity}
        self.key = digest(self.identity)
        self._open(overwrite)
        self.encodes = self._folder("encodes")
        self.points = self._folder("points")
        self.crops = self._folder("crops")
        for folder in (root, root / "crops"):  # the outputs' temporary files, which a killed report leaves
            _sweep(folder)

    def _open(self, overwrite: bool) -> None:
        root = self.root
        if root.exists() and not root.is_dir():
            raise OutputError(f"{root} is a file; the experiment needs a folder there")
        manifest = read_json(root / MANIFEST) if root.is_dir() else None
        if manifest is not None and manifest.get("identity") != self.identity:
            if not overwrite:
                raise ConfigError(
                    f"{root} holds an experiment with other settings ({_differences(manifest.get('identity'), self.identity)}); "
                    "use --overwrite to replace it, or another folder"
                )
            self._remove_cache()
        elif manifest is None and root.is_dir() and any(root.iterdir()) and not overwrite:
            raise OutputError(f"{root} is not empty and holds no experiment; use --overwrite to write into it anyway")
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / CACHE).mkdir(exist_ok=True)
            write_json(root / MANIFEST, {"identity": self.identity, "key": self.key})
        except OSError as error:
            raise OutputError(f"cannot write the experiment folder {root}: {error.strerror or error}") from None

    def _remove_cache(self) -> None:
        """Remove the previous experiment's cache and results.json (the folder's settings are about
        to change: a report of the old ones must not read as complete); its tables, plots and
        summary stay until this run's report replaces them."""
        log.info("replacing the previous experiment in %s (--overwrite): its tables, plots and summary stay "
                 "until this run's replace them", self.root)
        shutil.rmtree(self.root / CACHE, ignore_errors=True)
        (self.root / RESULTS).unlink(missing_ok=True)

    def _folder(self, name: str) -> Path:
        folder = self.root / CACHE / name
        folder.mkdir(exist_ok=True)
        _sweep(folder)
        return folder

    def point_key(self, point: dict[str, Any]) -> str:
        """The cache key of an encode or a scored point described by `point`."""
        return digest({"experiment": self.key, "records": RECORDS, **point})

    def encode_file(self, key: str) -> Path:
        return self.encodes / f"{key}.mp4"

    def encode_record(self, key: str) -> dict[str, Any] | None:
        """The cached encode `key` (its record, when its file is there too), or None."""
        return _complete_record(self.encodes / f"{key}.json", self.encode_file(key))

    def save_encode_record(self, key: str, record: dict[str, Any]) -> None:
        write_json(self.encodes / f"{key}.json", record)

    def frames_file(self, key: str) -> Path:
        return self.points / f"{key}.csv"

    def point_record(self, key: str) -> dict[str, Any] | None:
        """The cached point `key` (when its frames file is there too), or None."""
        return _complete_record(self.points / f"{key}.json", self.frames_file(key))

    def save_point_record(self, key: str, record: dict[str, Any]) -> None:
        write_json(self.points / f"{key}.json", record)

    def crop_file(self, key: str) -> Path:
        return self.crops / f"{key}.png"


def _complete_record(record_file: Path, data_file: Path) -> dict[str, Any] | None:
    """A record whose data file is there too (the record is written last, but either may be deleted)."""
    record = read_json(record_file)
    return record if record is not None and data_file.is_file() else None


def _differences(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "an unreadable manifest"
    changed = [f"{k} {old.get(k)!r}, now {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(changed[:3]) or "unknown"


def _sweep(folder: Path) -> None:
    """Remove the temporary files a killed run left in `folder` (vsr.files.temporary_beside names them)."""
    if folder.is_dir():
        for stale in folder.glob(f".*{TEMP_MARK}*"):
            stale.unlink(missing_ok=True)
