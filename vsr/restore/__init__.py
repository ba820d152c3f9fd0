"""Restoration presets: FFmpeg's filters and the restoration models combined for old footage."""
