"""Still image files: which suffixes vsr treats as images rather than videos."""

from __future__ import annotations

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""Still images that OpenCV reads and writes (lower case)."""
