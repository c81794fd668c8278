"""One description of the machine a benchmark ran on, for every script's header and JSON."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def describe_machine(*packages: str) -> str:
    """CPU model, logical CPUs, memory, OS, Python, 1-minute load average and the named packages' versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    parts = [cpu, f"{os.cpu_count()} logical CPUs", f"{memory_gib:.1f} GiB RAM",
             f"{platform.system()} {platform.release()}", f"Python {platform.python_version()}",
             f"load average {os.getloadavg()[0]:.1f}"]
    for name in packages:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)
