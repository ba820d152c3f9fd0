"""The work folder's manifest: which input and options a segmented job is for, its plan, and how
far each segment got, written atomically so that an interrupted job can resume.

    manifest = Manifest.new(input_path, options, plan)
    manifest.save(work_dir)                       # temp file + rename: never half written
    manifest = Manifest.load(work_dir).for_job(input_path, options)   # ConfigError on a mismatch
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from vsr.errors import ConfigError, InputError, VsrError
from vsr.files import file_sha256, write_text_atomic
from vsr.models.loading import default_model_name
from vsr.models.resolve import model_file
from vsr.options import ModelOptions, UpscaleOptions
from vsr.segments.plan import Segment

MANIFEST_NAME = "manifest.json"
FORMAT = 1


class State(str, Enum):
    PENDING = "pending"
    DONE = "done"
    """Its file is in place and passed the frame-count and timestamp checks."""


@dataclass(frozen=True)
class SegmentRecord:
    segment: Segment
    state: State = State.PENDING
    frames: int = 0
    bytes: int = 0
    sha256: str = ""
    """Of its file when it was checked ("" in manifests older than this field)."""


@dataclass(frozen=True)
class Manifest:
    input_sha256: str
    options_sha256: str
    segments: tuple[SegmentRecord, ...]
    weights_sha256: str = ""
    """Of the model's weight file ("" for none, and in manifests older than this field)."""
    made_folder: bool = False
    """Whether vsr made the work folder (then removed with the work, by whichever run finishes it)."""

    @classmethod
    def new(cls, source: Path, options: UpscaleOptions, plan: list[Segment], *, made_folder: bool = False) -> Manifest:
        return cls(input_digest(source), options_digest(options), tuple(SegmentRecord(s) for s in plan),
                   weights_digest(options.model), made_folder)

    def for_job(self, source: Path, options: UpscaleOptions) -> Manifest:
        """Itself, if it was made for this input and these options; else ConfigError saying which differs."""
        if self.input_sha256 != input_digest(source):
            raise ConfigError(f"the work folder belongs to another input than {source} (or it changed); "
                              "remove it or choose another --work-dir")
        if self.options_sha256 != options_digest(options):
            raise ConfigError("the work folder was made with other options; rerun with the same options, "
                              "or remove it to start afresh")
        if self.weights_sha256 and self.weights_sha256 != weights_digest(options.model):
            raise ConfigError(f"the work folder was made with other weights of the model {options.model.name or 'default'} "
                              "(its weight file was replaced, or another vsr's shipped one); rerun with those, "
                              "or remove the folder to start afresh")
        return self

    def finished(self, index: int, frames: int, size: int, sha256: str = "") -> Manifest:
        """A copy with segment `index` done (its file checked: `frames` frames, `size` bytes, that SHA-256)."""
        records = list(self.segments)
        records[index] = dataclasses.replace(records[index], state=State.DONE, frames=frames, bytes=size, sha256=sha256)
        return dataclasses.replace(self, segments=tuple(records))

    @property
    def pending(self) -> list[Segment]:
        return [r.segment for r in self.segments if r.state is not State.DONE]

    def save(self, folder: Path) -> Path:
        """Write `folder/manifest.json` through a temporary file beside it and a rename (atomic on
        POSIX; the temporary file is removed when the write fails)."""
        target = folder / MANIFEST_NAME
        write_text_atomic(target, json.dumps(self.to_dict(), separators=(",", ":")))  # C's encoder: saved at every segment
        return target

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """The manifest in `folder`. Raises InputError if it is missing or not a manifest of this format."""
        path = folder / MANIFEST_NAME
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT}")
            return cls.from_dict(raw)
        except FileNotFoundError:
            raise InputError(f"no {MANIFEST_NAME} in {folder}: nothing to resume") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path} is not a vsr manifest ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "input_sha256": self.input_sha256,
            "options_sha256": self.options_sha256,
            "weights_sha256": self.weights_sha256,
            "made_folder": self.made_folder,
            "segments": [
                {**vars(r.segment), "state": r.state.value, "frames_written": r.frames, "bytes": r.bytes, "sha256": r.sha256}
                for r in self.segments
            ],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        records = tuple(
            SegmentRecord(
                Segment(s["index"], s["start_pts"], s["end_pts"], s["frames"],
                        s.get("context_start_pts"), s.get("context_after", 0), s.get("leading", 0)),
                State(s["state"]), s["frames_written"], s["bytes"], s.get("sha256", ""),
            )
            for s in raw["segments"]
        )
        return cls(raw["input_sha256"], raw["options_sha256"], records, raw.get("weights_sha256", ""),
                   raw.get("made_folder", False) is True)


def input_digest(source: Path) -> str:
    """SHA-256 of the input's bytes (vsr.files.file_sha256: 1 MiB chunks, memory does not grow with the file)."""
    return file_sha256(source)


def options_digest(options: UpscaleOptions) -> str:
    """SHA-256 of the options that shape the output (not how the run is supervised: `run` is left out,
    nor the batch size, the usual change after running out of memory)."""
    shaping = {name: dataclasses.asdict(getattr(options, name)) for name in ("model", "multi_frame", "filters", "encode")}
    shaping["model"].pop("batch_size", None)
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()


def weights_digest(model: ModelOptions) -> str:
    """SHA-256 of the weight file the model options name (a shipped model's too), "" where there is
    none: a file replaced under the same name (retrained, another vsr's shipped one) would mix two
    models in one video."""
    try:
        name = model.name if model.name is not None else default_model_name(model.scale)
        path = model_file(name, model.scale) if isinstance(name, (str, os.PathLike)) else None
    except VsrError:
        return ""
    return file_sha256(path) if path is not None and path.is_file() else ""
