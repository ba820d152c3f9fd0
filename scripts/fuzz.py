"""Fuzz `vsr upscale` with damaged files: count how each run ends.

    python scripts/fuzz.py --seed 12 --mutants 100 --workers 2

Three short clips are synthesised with PyAV (tests/videoclips.py): H.264+AAC in mp4, H.264+MP3 in
mkv, VP8+Opus in webm. Each mutant is one of them with flipped bytes (rate 1e-4 to 1e-2), cut
short, or with a chunk of bytes duplicated, removed or zeroed. Each goes through
`python -m vsr upscale --scale 2 -m bicubic` in a subprocess with a timeout, and ends as:

  success       exit 0, and the output holds as many frames as the mutant has decodable frames
                with advancing timestamps, in strictly increasing order
  bad output    exit 0, but the output fails that check
  clean error   exit 1 and one error line that names no temporary file nor Python exception
  unclear error exit 1, but the error line names a temporary file or an exception class
  traceback     a Python traceback on stderr
  crash         killed by a signal (or any other exit code)
  hang          still running at the timeout
  leftovers     (counted besides the above) a file left in the run's folder that should not be
                there: a partial file, or an output after a failure

The run prints a table of counts per clip and the mutants that did not end cleanly. Seeded: the
same seed gives the same mutants. Not part of the test suite (it takes minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from videoclips import ClipSpec, write_clip  # noqa: E402  (the tests' clip maker)

CLIPS = {
    "h264-aac.mp4": ClipSpec(width=96, height=64, frames=24, audio=("aac",)),
    "h264-mp3.mkv": ClipSpec(width=96, height=64, frames=24, audio=("mp3",)),
    "vp8-opus.webm": ClipSpec(width=96, height=64, frames=24, codec="libvpx", audio=("opus",)),
}
MUTATIONS = ("flip", "truncate", "duplicate", "remove", "zero")
OUTCOMES = ("success", "bad output", "clean error", "unclear error", "traceback", "crash", "hang")
INTERNAL_LOOKING = re.compile(r"\.partial|\b[A-Z][A-Za-z]*(Error|Exception)\b|returned -?\d+")


@dataclass
class Mutant:
    number: int
    clip: str
    mutation: str
    detail: str
    data: bytes


@dataclass
class Outcome:
    mutant: Mutant
    kind: str
    leftovers: list[str]
    note: str
    seconds: float


def mutate(number: int, clip: str, data: bytes, rng: np.random.Generator) -> Mutant:
    """One damaged copy of `data`: the mutation drawn from MUTATIONS."""
    mutation = MUTATIONS[rng.integers(len(MUTATIONS))]
    size = len(data)
    buffer = bytearray(data)
    if mutation == "flip":
        rate = 10 ** rng.uniform(-4, -2)
        positions = rng.choice(size, max(1, round(rate * size)), replace=False)
        for at in positions:
            buffer[at] ^= 1 << int(rng.integers(8))
        return Mutant(number, clip, mutation, f"rate {rate:.1e} ({len(positions)} bits)", bytes(buffer))
    if mutation == "truncate":
        keep = int(size * rng.uniform(0.2, 0.98))
        return Mutant(number, clip, mutation, f"kept {keep} of {size} bytes", bytes(buffer[:keep]))
    length = max(1, int(size * rng.uniform(0.005, 0.1)))
    start = int(rng.integers(0, size - length))
    chunk = bytes(buffer[start : start + length])
    detail = f"{length} bytes at {start}"
    if mutation == "duplicate":
        return Mutant(number, clip, mutation, detail, bytes(buffer[: start + length] + chunk + buffer[start + length :]))
    if mutation == "remove":
        return Mutant(number, clip, mutation, detail, bytes(buffer[:start] + buffer[start + length :]))
    buffer[start : start + length] = bytes(length)
    return Mutant(number, clip, mutation, detail, bytes(buffer))


def decodable_frames(path: Path) -> int:
    """Frames PyAV decodes from `path` whose timestamps advance (vsr's damaged-input policy), or -1
    when the file cannot be opened."""
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            count, last = 0, None
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.FFmpegError, ValueError):
                    continue
                for frame in frames:
                    pts = frame.pts if frame.pts is not None else (last or 0) + 1
                    if last is None or pts > last:
                        count, last = count + 1, pts
            return count
    except (av.FFmpegError, ValueError, IndexError, OSError):
        return -1


def output_frames(path: Path) -> tuple[int, bool]:
    """(frames, whether their timestamps strictly increase) of an output file; (-1, False) when
    it cannot be read."""
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            pts = [frame.pts for frame in container.decode(video=0)]
    except (av.FFmpegError, ValueError, IndexError, OSError):
        return -1, False
    return len(pts), all(a < b for a, b in zip(pts, pts[1:]))


def run_one(mutant: Mutant, folder: Path, timeout: float) -> Outcome:
    """Write the mutant into its own folder, upscale it, and classify how that ended."""
    folder.mkdir()
    source = folder / f"in{Path(mutant.clip).suffix}"
    source.write_bytes(mutant.data)
    target = folder / f"out{source.suffix}"
    command = [sys.executable, "-m", "vsr", "upscale", str(source), "--scale", "2", "-m", "bicubic",
               "--preset", "ultrafast", "-o", str(target), "--quiet"]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    except subprocess.TimeoutExpired:
        kind, note = "hang", f"still running after {timeout:.0f} s"
    else:
        kind, note = classify(done, source, target)
        note = note.replace(f"{folder}/", "")
    expected = {source.name} | ({target.name} if kind in ("success", "bad output") else set())
    leftovers = sorted(set(os.listdir(folder)) - expected)
    return Outcome(mutant, kind, leftovers, note, time.monotonic() - started)


def classify(done: subprocess.CompletedProcess, source: Path, target: Path) -> tuple[str, str]:
    errors = [line for line in done.stderr.splitlines() if line.startswith("vsr: error:")]
    if "Traceback (most recent call last)" in done.stderr or "Fatal Python error" in done.stderr:
        return "traceback", done.stderr.strip().splitlines()[-1][:160]
    if done.returncode == 0:
        frames, increasing = output_frames(target)
        expected = decodable_frames(source)
        if frames == expected and increasing:
            return "success", f"{frames} frames"
        return "bad output", f"{frames} frames (decodable {expected}), increasing: {increasing}"
    if done.returncode == 1 and len(errors) == 1:
        kind = "unclear error" if INTERNAL_LOOKING.search(errors[0]) else "clean error"
        return kind, errors[0][:160]
    return "crash", f"exit {done.returncode}: {done.stderr.strip()[-160:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--mutants", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a run counts as a hang")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (its path is printed)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vsr-fuzz-"))
    rng = np.random.default_rng(args.seed)
    clips = {name: write_clip(work / name, spec).read_bytes() for name, spec in CLIPS.items()}
    names = list(clips)
    mutants = [mutate(i, names[i % len(names)], clips[names[i % len(names)]], rng) for i in range(args.mutants)]
    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(lambda m: run_one(m, work / f"m{m.number:04d}", args.timeout), mutants))
    report(outcomes, time.monotonic() - started, args)
    if args.keep:
        print(f"work folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def report(outcomes: list[Outcome], seconds: float, args: argparse.Namespace) -> None:
    counts = Counter((o.mutant.clip, o.kind) for o in outcomes)
    left = Counter(o.mutant.clip for o in outcomes if o.leftovers)
    clips = sorted({o.mutant.clip for o in outcomes})
    columns = [*OUTCOMES, "leftovers"]
    print(f"seed {args.seed}, {len(outcomes)} mutants, {seconds:.0f} s with {args.workers} workers\n")
    print(f"| {'clip':<14} | " + " | ".join(columns) + " |")
    print("|" + "---|" * (len(columns) + 1))
    for clip in [*clips, "all"]:
        row = [sum(counts[(c, k)] for c in clips) if clip == "all" else counts[(clip, k)] for k in OUTCOMES]
        row.append(sum(left.values()) if clip == "all" else left[clip])
        print(f"| {clip:<14} | " + " | ".join(f"{n:>{len(c)}}" for n, c in zip(row, columns)) + " |")
    by_mutation = Counter((o.mutant.mutation, o.kind) for o in outcomes)
    print("\nby mutation: " + "; ".join(
        f"{m}: " + ", ".join(f"{by_mutation[(m, k)]} {k}" for k in OUTCOMES if by_mutation[(m, k)]) for m in MUTATIONS
    ))
    odd = [o for o in outcomes if o.kind not in ("success", "clean error") or o.leftovers]
    if odd:
        print("\nnot clean:")
    for o in odd:
        m = o.mutant
        print(f"  #{m.number} {m.clip} {m.mutation} ({m.detail}): {o.kind}; {o.note}"
              + (f"; left: {', '.join(o.leftovers)}" if o.leftovers else ""))
    errors = Counter(o.note.split(": ", 2)[-1][:70] for o in outcomes if o.kind == "clean error")
    print("\nclean errors, most common first:")
    for message, n in errors.most_common(8):
        print(f"  {n:>3}  {message}")


if __name__ == "__main__":
    main()
