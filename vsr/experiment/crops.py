"""Crops for looking rather than reading: one square of one frame, cut from the source and from each
upscaler's result at the same encode (the same bits), laid side by side with labels.

The crops are of the Y plane (grey), which is what every metric here scores. The square is the
most detailed one of the frame (highest variance of the Laplacian), where upscalers differ most.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsr.errors import OutputError
from vsr.files import atomic_path

LABEL_ROWS = 24


@dataclass(frozen=True)
class CropBox:
    """A size x size square at column x, row y of the source frame `frame` (index in the range)."""

    frame: int
    x: int
    y: int
    size: int

    def cut(self, plane: np.ndarray) -> np.ndarray:
        """The square of an (H, W) plane at the source's size."""
        return np.ascontiguousarray(plane[self.y : self.y + self.size, self.x : self.x + self.size])


def choose_crop(luma: np.ndarray, frame: int, size: int) -> CropBox:
    """The most detailed size x size square of `luma` ((H, W) uint8), on a grid of half-size steps;
    `size` shrinks to fit a small frame."""
    height, width = luma.shape
    size = max(1, min(size, width, height))
    detail = np.abs(cv2.Laplacian(luma.astype(np.float32), cv2.CV_32F))
    step = max(1, size // 2)
    best, best_xy = -1.0, (0, 0)
    for y in sorted({*range(0, height - size + 1, step), height - size}):
        for x in sorted({*range(0, width - size + 1, step), width - size}):
            score = float(detail[y : y + size, x : x + size].mean())
            if score > best:
                best, best_xy = score, (x, y)
    return CropBox(frame, best_xy[0], best_xy[1], size)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an 8-bit image as PNG atomically. Raises OutputError."""
    with atomic_path(path) as temp:
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise OutputError(f"cannot encode {path.name} as PNG")
        temp.write_bytes(data.tobytes())


def read_png(path: Path) -> np.ndarray | None:
    """A cached crop (grey), or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


FONT, FONT_SCALE, LINE_ROWS, MAX_LABEL_LINES = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 16, 3


def side_by_side(tiles: list[tuple[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """The tiles ((label, (s, s) uint8)) in a row, each with its label above it (wrapped to the
    tile's width), white gaps."""
    size = max(t.shape[0] for _, t in tiles)
    scale = 1 if size >= 192 else max(1, 192 // size)  # small crops are enlarged (nearest) to be seen
    shown = size * scale
    labels = [wrap_label(label, shown - 4) for label, _ in tiles]
    top = LABEL_ROWS + LINE_ROWS * (max(len(lines) for lines in labels) - 1)
    canvas = np.full((top + shown, len(tiles) * (shown + gap) - gap), 255, np.uint8)
    for k, ((_, tile), lines) in enumerate(zip(tiles, labels)):
        x = k * (shown + gap)
        big = cv2.resize(tile, (tile.shape[1] * scale, tile.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        canvas[top : top + big.shape[0], x : x + big.shape[1]] = big
        for row, line in enumerate(lines):
            cv2.putText(canvas, line, (x + 2, LABEL_ROWS - 7 + row * LINE_ROWS), FONT, FONT_SCALE, 0, 1, cv2.LINE_AA)
    return canvas


def wrap_label(label: str, width: int) -> list[str]:
    """`label` in lines of at most `width` pixels, broken at spaces (a longer word, a file path
    say, broken anywhere), at most MAX_LABEL_LINES of them (the last one ending in ".." if cut)."""
    def fits(text: str) -> bool:
        return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0] <= width

    lines: list[str] = []
    for word in label.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and fits(candidate):
            lines[-1] = candidate
            continue
        lines.append("")
        for char in word:
            if lines[-1] and not fits(lines[-1] + char):
                lines.append("")
            lines[-1] += char
    if len(lines) > MAX_LABEL_LINES:
        last = lines[MAX_LABEL_LINES - 1]
        while last and not fits(last + ".."):
            last = last[:-1]
        lines = [*lines[: MAX_LABEL_LINES - 1], last + ".."]
    return lines or [""]
