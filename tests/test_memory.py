"""How much memory vsr may still take: /proc/meminfo and cgroup v1/v2 limits, read from fake files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsr.pipeline import memory


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_meminfo_available_is_read_in_bytes(tmp_path):
    write(tmp_path / "meminfo", "MemTotal:       24684084 kB\nMemFree: 100 kB\nMemAvailable:   2000 kB\n")
    assert memory.meminfo_available(tmp_path / "meminfo") == 2000 * 1024
    write(tmp_path / "old", "MemTotal: 100 kB\n")
    assert memory.meminfo_available(tmp_path / "old") is None
    assert memory.meminfo_available(tmp_path / "missing") is None


def test_a_cgroup_v2_limit_leaves_the_limit_less_usage_plus_reclaimable_cache(tmp_path):
    mount, own = tmp_path / "cgroup", tmp_path / "cgroup" / "job.slice"
    write(tmp_path / "self", "0::/job.slice\n")
    write(own / "memory.max", "3221225472\n")
    write(own / "memory.current", "1000000000\n")
    write(own / "memory.stat", "anon 900000000\ninactive_file 100000000\nactive_file 5\n")
    assert memory.cgroup_headroom(mount, tmp_path / "self") == 3221225472 - 1000000000 + 100000000
    write(own / "memory.max", "max\n")
    assert memory.cgroup_headroom(mount, tmp_path / "self") is None


def test_a_cgroup_v1_limit_is_read_at_the_mount_when_the_listed_path_is_not_there(tmp_path):
    mount = tmp_path / "cgroup"
    write(tmp_path / "self", "5:devices:/\n4:memory:/docker/abc\n0::/\n")
    write(mount / "memory" / "memory.limit_in_bytes", "2000000000\n")
    write(mount / "memory" / "memory.usage_in_bytes", "500000000\n")
    write(mount / "memory" / "memory.stat", "cache 10\ntotal_inactive_file 1000\n")
    assert memory.cgroup_headroom(mount, tmp_path / "self") == 2000000000 - 500000000 + 1000
    write(mount / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")  # v1's "no limit"
    assert memory.cgroup_headroom(mount, tmp_path / "self") is None


def test_the_smaller_figure_counts_and_none_when_nothing_is_known(monkeypatch):
    monkeypatch.setattr(memory, "meminfo_available", lambda: 8_000)
    monkeypatch.setattr(memory, "cgroup_headroom", lambda: 3_000)
    assert memory.available_memory() == 3_000
    monkeypatch.setattr(memory, "cgroup_headroom", lambda: None)
    assert memory.available_memory() == 8_000
    monkeypatch.setattr(memory, "meminfo_available", lambda: None)
    assert memory.available_memory() is None


def test_a_video_whose_frames_would_not_fit_is_refused_before_any_work(make_clip, tmp_path, monkeypatch):
    """A 1080p x4 run held 6.5 GB (the queue of 8K frames, x264's look-ahead) with no check: past the
    memory available the kernel kills it without a word. 64x48 x2: 18 KB frames, about 2.6 MB at
    preset medium, 0.6 MB at ultrafast."""
    import pytest

    import vsr
    import vsr.pipeline.run as run
    from vsr.errors import OutputError
    from vsr.options import UpscaleOptions

    source = make_clip("in.mp4", frames=100)
    monkeypatch.setattr(run, "available_memory", lambda: 1_000_000)
    options = UpscaleOptions().replace(model={"name": "bicubic", "scale": 2})
    with pytest.raises(OutputError, match=r"^upscaling to 128x96 holds about 2\.6 MB of frames \(the queue and the "
                                          r"encoder's look-ahead\), more than the 1\.0 MB of memory available: use a "
                                          r"faster --preset \(libx264 --preset ultrafast: about 0\.6 MB\)"):
        vsr.upscale_video(source, tmp_path / "out.mp4", options=options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    result = vsr.upscale_video(source, tmp_path / "out.mp4", options=options.replace(encode={"preset": "ultrafast"}))
    assert result.frames == 100
    # a preview, or a clip this short, holds no more frames than it has
    preview = vsr.upscale_video(source, tmp_path / "preview.mp4", options=options.replace(run={"max_frames": 10}))
    short = vsr.upscale_video(make_clip("short.mp4", frames=10), tmp_path / "short_x2.mp4", options=options)
    assert preview.frames == short.frames == 10


def test_a_batch_larger_than_the_default_is_counted_before_any_work(make_clip, tmp_path, monkeypatch):
    """--batch-size 250 at 320x240 x4 held 4 GB against 0.6 GB at the default 6, unchecked: the
    kernel's kill came mid-run. 64x48 espcn x2, batch 100 (default 16): about 100 MB more."""
    import pytest

    import vsr
    import vsr.pipeline.run as run
    from vsr.errors import OutputError
    from vsr.options import UpscaleOptions

    source = make_clip("in.mp4", frames=8)
    monkeypatch.setattr(run, "available_memory", lambda: 50_000_000)
    options = UpscaleOptions().replace(model={"name": "espcn", "scale": 2}, encode={"preset": "ultrafast"})
    with pytest.raises(OutputError, match=r"^a batch of 100 frames holds about .* more than the default batch of 16, "
                                          r"past the 50\.0 MB of memory available: use a smaller --batch-size$"):
        vsr.upscale_video(source, tmp_path / "out.mp4", options=options.replace(model={"batch_size": 100}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    assert vsr.upscale_video(source, tmp_path / "out.mp4", options=options).frames == 8  # the default batch fits


@pytest.mark.parametrize("work", ["upscale", "measure_fps", "benchmark", "experiment"])
def test_a_program_that_embeds_vsr_gets_its_freed_memory_back_after_a_run(make_clip, tmp_path, work):
    """The CPU engine sets glibc to keep freed memory in the heap (faster forward passes); the
    setting outlived the run: 756 MB freed by the host program afterwards stayed in its RSS (after
    measure_fps, a benchmark or an experiment too)."""
    import os

    import numpy as np

    import vsr
    from vsr.bench import run_benchmark
    from vsr.eval.evaluate import measure_fps
    from vsr.experiment import run_experiment
    from vsr.experiment.spec import make_settings

    def rss() -> int:  # Linux: resident pages of this process
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    source = make_clip("in.mp4", frames=2)
    options = vsr.UpscaleOptions(model=vsr.ModelOptions(name="espcn", scale=2), encode=vsr.EncodeOptions(preset="ultrafast"))
    {
        "upscale": lambda: vsr.upscale_video(source, tmp_path / "out.mp4", options=options),
        "measure_fps": lambda: measure_fps(vsr.load_model("espcn", 2), height=48, width=64, frames=1),
        "benchmark": lambda: run_benchmark(source, options, frames=2, naive=False),
        "experiment": lambda: run_experiment(source, tmp_path / "exp", make_settings(
            upscalers="bicubic,espcn", scales="1,2", crfs="30", metrics="psnr", preset="ultrafast", crop_size=0)),
    }[work]()
    before = rss()
    block = np.ones(400 * 2**20, np.uint8)  # the host's own work after the run
    assert rss() - before > 300 * 2**20
    del block
    assert rss() - before < 100 * 2**20
    # and medium blocks come from the heap, as glibc's own dynamic threshold has them (restoring its
    # initial values switched that off for good: every 4 MB block was a fresh mapping, 96 000 page faults)
    import resource

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        medium = np.empty(4 * 2**20, np.uint8)
        medium[::4096] = 1
        del medium
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults < 20_000
