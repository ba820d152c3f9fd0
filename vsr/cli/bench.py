"""`vsr bench` (see vsr/bench.py)."""
