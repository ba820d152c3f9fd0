"""How much memory this process can still take: the kernel's MemAvailable, capped by a cgroup's limit.

Containers (Docker, Kubernetes, Slurm, systemd units) limit memory with a cgroup, and going past
that limit gets the process killed by the OOM killer with no message, however much the host has
free; so both figures count. Outside Linux neither is known and the caller decides without one.
"""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")
CGROUP_MOUNT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")

UNLIMITED = 1 << 60
"""cgroup v1 writes "no limit" as a huge number (9223372036854771712 on x86-64)."""


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping or being killed: the smaller of
    /proc/meminfo's MemAvailable and its cgroup's headroom; None when neither is known."""
    known = [value for value in (meminfo_available(), cgroup_headroom()) if value is not None]
    return min(known) if known else None


def readable_size(nbytes: int) -> str:
    """`nbytes` for a message: "1.4 GB", or "37.2 MB" under 0.1 GB."""
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"


def meminfo_available(meminfo: Path = MEMINFO) -> int | None:
    """MemAvailable in bytes (the kernel's estimate, page cache it can drop included), or None."""
    fields = _read_fields(meminfo)
    return fields["MemAvailable:"] * 1024 if "MemAvailable:" in fields else None


def cgroup_headroom(mount: Path = CGROUP_MOUNT, self_cgroup: Path = SELF_CGROUP) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 memory.max, else v1
    memory.limit_in_bytes) not counting its reclaimable page cache; None without a limit."""
    for folder, limit_name, usage_name, cache_name in (
        (_own_cgroup(mount, self_cgroup, ""), "memory.max", "memory.current", "inactive_file"),
        (_own_cgroup(mount / "memory", self_cgroup, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes",
         "total_inactive_file"),
    ):
        limit = _read_int(folder / limit_name)
        usage = _read_int(folder / usage_name)
        if limit is not None and usage is not None and limit < UNLIMITED:
            reclaimable = _read_fields(folder / "memory.stat").get(cache_name, 0)
            return max(0, limit - usage + reclaimable)
    return None


def _own_cgroup(mount: Path, self_cgroup: Path, controller: str) -> Path:
    """This process's cgroup folder for `controller` ("" for v2), or the mount itself: inside a
    container the mount usually is the container's own cgroup and the listed path does not exist."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return mount
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = mount / path.lstrip("/")
            if folder.is_dir():
                return folder
    return mount


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _read_fields(path: Path) -> dict[str, int]:
    """The "name value [unit]" lines of /proc/meminfo or memory.stat as {name: value}."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0]] = int(parts[1])
    return fields
