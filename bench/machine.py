"""The machine line every benchmark prints (and bench/README.md quotes with its results)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


def describe() -> str:
    """CPU model, usable CPUs, OS, Python and the load average at this moment."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{model}, {usable} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {load}"
    )
