"""Compute backends as values: which exist, which are usable here, and resolving user choices."""

from __future__ import annotations

import enum

from gpu_tda import device
from gpu_tda.exceptions import BackendUnavailableError


class Backend(enum.StrEnum):
    """A compute backend. ``str`` so it prints and serialises as its name."""

    CPU = "cpu"
    GPU = "gpu"


def available_backends() -> list[str]:
    """Names of the backends usable in this process, e.g. ``["cpu"]`` or ``["cpu", "gpu"]``."""
    names = [Backend.CPU.value]
    if device.gpu_unavailable_reason() is None:
        names.append(Backend.GPU.value)
    return names


def resolve_backend(name: str | Backend) -> Backend:
    """Turn "auto" | "cpu" | "gpu" into a usable Backend, or raise a clear error."""
    value = name.value if isinstance(name, Backend) else str(name).lower()
    if value == "auto":
        return Backend.GPU if device.gpu_unavailable_reason() is None else Backend.CPU
    if value == Backend.CPU.value:
        return Backend.CPU
    if value == Backend.GPU.value:
        reason = device.gpu_unavailable_reason()
        if reason is not None:
            raise BackendUnavailableError(f"backend='gpu' is not usable here: {reason}")
        return Backend.GPU
    raise ValueError(f"backend must be 'auto', 'cpu' or 'gpu', got {name!r}")
