"""The public API: ``persistence``, ``persistence_batch`` and ``available_backends``.

All checking happens here; the engines behind it (``cpu_engine``, ``gpu_engine``) take
validated float64 arrays and return diagrams in ripser.py's convention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from gpu_tda import device
from gpu_tda.backends import Backend, available_backends, resolve_backend
from gpu_tda.validation import (
    check_distance_matrix,
    check_maxdim,
    check_point_batch,
    check_points,
    check_threshold,
    checked_point_array,
)

Diagrams = list[np.ndarray]
"""One float64 array of shape (k, 2) per dimension 0..maxdim; death = inf for essential bars."""

DEFAULT_MEMORY_LIMIT = 4 * 1024**3
"""Bytes one window's computation may plan to use before it is refused (MemoryBudgetError)."""

__all__ = ["Diagrams", "available_backends", "persistence", "persistence_batch"]


def persistence(
    X: np.ndarray,
    maxdim: int = 1,
    threshold: float = math.inf,
    distance_matrix: bool = False,
    backend: str = "auto",
    *,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> Diagrams:
    """Vietoris-Rips persistence diagrams of one point cloud or distance matrix.

    Parameters
    ----------
    X : (n, d) array of points, or (n, n) distance matrix when ``distance_matrix=True``; on
        the host, or on the GPU as :func:`persistence_batch` takes it.
    maxdim : highest homology dimension computed, 0..3.
    threshold : edges longer than this do not exist; bars alive at it are infinite.
    distance_matrix : read ``X`` as a symmetric distance matrix with zero diagonal.
    backend : "auto" (the GPU when usable, else the CPU), "cpu" or "gpu".
    memory_limit : bytes the computation may plan to use; None for no bound.

    Returns
    -------
    list of ``maxdim + 1`` float64 arrays of shape (k, 2): (birth, death) per bar, death = inf
    for essential bars, zero-length bars dropped; the same multiset of bars as
    ``ripser.ripser(X, maxdim, thresh=threshold)["dgms"]``.

    Raises
    ------
    ValueError on malformed input; BackendUnavailableError for backend="gpu" without a GPU;
    MemoryBudgetError when the work would exceed ``memory_limit``.
    """
    if device.is_device_array(X):
        maxdim, threshold = _checked_options(maxdim, threshold, memory_limit)
        return _device_windows(
            X, maxdim, threshold, backend, distance_matrix, memory_limit, one=True
        )[0]
    return persistence_batch(
        [X],
        maxdim=maxdim,
        threshold=threshold,
        backend=backend,
        distance_matrix=distance_matrix,
        memory_limit=memory_limit,
    )[0]


def persistence_batch(
    Xs: np.ndarray | Sequence[np.ndarray],
    maxdim: int = 1,
    threshold: float = math.inf,
    backend: str = "auto",
    *,
    distance_matrix: bool = False,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> list[Diagrams]:
    """Persistence diagrams of many windows at once, in parallel.

    ``Xs`` is a (B, n, d) array or a sequence of (n_i, d_i) arrays (ragged is fine; with
    ``distance_matrix=True``, (B, n, n) or a sequence of square matrices). Returns a list of B
    results, each exactly what :func:`persistence` returns for that window.

    ``Xs`` may live on the GPU (a CuPy array, a CUDA torch tensor: anything with
    ``__cuda_array_interface__``): on the GPU backend its points never leave the device; with
    the CPU backend, or as distance matrices (checked on the host), they are copied over.
    """
    maxdim, threshold = _checked_options(maxdim, threshold, memory_limit)
    if device.is_device_array(Xs):
        return _device_windows(
            Xs, maxdim, threshold, backend, distance_matrix, memory_limit, one=False
        )
    windows = _as_window_list(Xs)
    if distance_matrix:
        clouds = [check_distance_matrix(w, name=f"Xs[{i}]") for i, w in enumerate(windows)]
    elif isinstance(Xs, np.ndarray):  # one (B, n, d) array: checked in one pass
        clouds = check_point_batch(Xs)
    elif _same_shape_arrays(windows):  # windows of one shape (a stream's): stacked, then so
        clouds = check_point_batch(np.stack(windows))
    else:
        clouds = [check_points(w, name=f"Xs[{i}]") for i, w in enumerate(windows)]
    engine = _engine(resolve_backend(backend))
    return engine.persistence_many(
        clouds,
        maxdim=maxdim,
        threshold=threshold,
        distance_matrix=distance_matrix,
        memory_limit=memory_limit,
    )


def _checked_options(maxdim: int, threshold: float, memory_limit: int | None) -> tuple[int, float]:
    """``maxdim`` and ``threshold`` checked, ``memory_limit`` refused unless positive or None."""
    if memory_limit is not None and memory_limit <= 0:
        raise ValueError(
            f"memory_limit must be a positive number of bytes or None, got {memory_limit}"
        )
    return check_maxdim(maxdim), check_threshold(threshold)


def _device_windows(
    X: Any,
    maxdim: int,
    threshold: float,
    backend: str,
    distance_matrix: bool,
    memory_limit: int | None,
    *,
    one: bool,
) -> list[Diagrams]:
    """Diagrams of a device array, ``one`` window or a batch: points go straight to the GPU
    engine; anything else is copied to the host and checked there like any other input."""
    want = 2 if one else 3
    if len(X.shape) != want:
        name = "X" if one else "Xs"
        raise ValueError(f"{name} must be a {want}-D array, got shape {tuple(X.shape)}")
    chosen = resolve_backend(backend)
    if chosen is Backend.GPU and not distance_matrix:
        xp = device.array_module()
        points = xp.asarray(X)
        points = checked_point_array(points[np.newaxis] if one else points, xp)
        from gpu_tda.gpu_engine import default_engine

        return default_engine().persistence_of_batch(points, maxdim, threshold, memory_limit)
    host = device.device_array_to_host(X)
    return persistence_batch(
        host[np.newaxis] if one else host,
        maxdim,
        threshold,
        chosen.value,
        distance_matrix=distance_matrix,
        memory_limit=memory_limit,
    )


def _as_window_list(Xs: object) -> list[np.ndarray]:
    if isinstance(Xs, np.ndarray):
        if Xs.ndim != 3:
            raise ValueError(f"a batch array must be 3-D (B, n, d), got shape {Xs.shape}")
        return list(Xs)
    if isinstance(Xs, (str, bytes)) or not isinstance(Xs, Sequence):
        raise ValueError(f"Xs must be a (B, n, d) array or a sequence of arrays, got {type(Xs)}")
    return list(Xs)


def _same_shape_arrays(windows: list[object]) -> bool:
    """Whether the windows are 2-D numeric arrays of one shape and dtype (so they stack)."""
    first = windows[0] if windows else None
    return (
        isinstance(first, np.ndarray)
        and first.ndim == 2
        and all(
            isinstance(w, np.ndarray) and w.shape == first.shape and w.dtype == first.dtype
            for w in windows
        )
    )


def _engine(backend: Backend) -> ModuleType:
    """The engine module for a backend; the GPU one is imported only when chosen."""
    if backend is Backend.GPU:
        from gpu_tda import gpu_engine

        return gpu_engine
    from gpu_tda import cpu_engine

    return cpu_engine
