"""Where every thread of a Python program spends its time: a stack sampler (cProfile on Python 3.12
profiles one thread at a time at most, and GPU work only shows as waits anyway).

    python3 scripts/sample_threads.py [--interval-ms 5] [--top 12] -- SCRIPT.py ARGS...
    python3 scripts/sample_threads.py -c "import sys, vsr; vsr.upscale_video(sys.argv[1], ...)" ARGS...

Every interval it reads the stack of each thread (sys._current_frames) and counts, per thread name,
the innermost frame and the innermost frame inside vsr/; at the end it prints the most frequent of
each with their share of that thread's samples. Native code (torch, OpenCV, FFmpeg) is seen as the
Python line that called it.
"""

from __future__ import annotations

import argparse
import collections
import runpy
import sys
import threading
import time
from types import FrameType


def _where(frame: FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {code.co_name}"


def _innermost_vsr(frame: FrameType | None) -> str:
    while frame is not None:
        if "/vsr/" in frame.f_code.co_filename:
            return _where(frame)
        frame = frame.f_back
    return "(outside vsr)"


class Sampler:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.leaf: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.vsr: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                name = names.get(ident, str(ident))
                self.leaf[name][_where(frame)] += 1
                self.vsr[name][_innermost_vsr(frame)] += 1

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, top: int) -> str:
        lines = []
        for name in sorted(self.leaf, key=lambda n: -sum(self.leaf[n].values())):
            total = sum(self.leaf[name].values())
            lines.append(f"== thread {name}: {total} samples ({total * self.interval:.1f} s)")
            for title, counter in (("innermost frame", self.leaf[name]), ("innermost vsr frame", self.vsr[name])):
                lines.append(f"   {title}:")
                lines += [f"   {100 * n / total:5.1f} %  {where}" for where, n in counter.most_common(top)]
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("-c", dest="code", help="Python code to run instead of a script")
    parser.add_argument("script", nargs="*", help="a script and its arguments (with -c: the code's arguments)")
    args = parser.parse_args()
    started = time.perf_counter()
    with Sampler(args.interval_ms / 1000) as sampler:
        try:
            if args.code:
                sys.argv = ["-c", *args.script]
                exec(compile(args.code, "<-c>", "exec"), {"__name__": "__main__"})
            else:
                sys.argv = args.script
                runpy.run_path(args.script[0], run_name="__main__")
        finally:
            print(f"{time.perf_counter() - started:.1f} s wall", file=sys.stderr)
            print(sampler.report(args.top), file=sys.stderr)


if __name__ == "__main__":
    main()
