"""What a benchmark figure was measured on: machine, CPU, and library versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform


def machine_info() -> dict[str, object]:
    """Host, CPU model, core count, Python and the versions of every library measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for dist in ("gpu-tda", "numpy", "numba", "ripser", "giotto-ph", "gudhi", "cupy-cuda12x"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def describe(info: dict[str, object]) -> str:
    """One line for the head of a results table."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())  # type: ignore[union-attr]
    return f"{info['cpu']} ({info['cores']} cores), Python {info['python']}; {versions}"
