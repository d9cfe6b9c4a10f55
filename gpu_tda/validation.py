"""Input checks for the public API: every broken contract becomes a ValueError saying what."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

MAX_SUPPORTED_DIM = 3


def check_maxdim(maxdim: int) -> int:
    """maxdim must be an integer in 0..3."""
    if isinstance(maxdim, bool) or not isinstance(maxdim, (int, np.integer)):
        raise ValueError(f"maxdim must be an integer in 0..{MAX_SUPPORTED_DIM}, got {maxdim!r}")
    if not 0 <= int(maxdim) <= MAX_SUPPORTED_DIM:
        raise ValueError(f"maxdim must be in 0..{MAX_SUPPORTED_DIM}, got {maxdim}")
    return int(maxdim)


def check_threshold(threshold: float | None) -> float:
    """threshold is a non-negative number or +inf (None means +inf)."""
    if threshold is None:
        return math.inf
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, got {threshold!r}") from None
    if math.isnan(value) or value < 0:
        raise ValueError(f"threshold must be >= 0 or inf, got {threshold!r}")
    return value


def check_points(X: object, name: str = "X") -> np.ndarray:
    """A finite (n, d) point cloud as C-contiguous float64. n = 0 is allowed."""
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) array of points, got shape {arr.shape}")
    return check_point_batch(arr[np.newaxis], name_of=lambda _: name)[0]


def check_point_batch(
    Xs: np.ndarray, name_of: Callable[[int], str] = lambda b: f"Xs[{b}]"
) -> list[np.ndarray]:
    """check_points for a (B, n, d) array at once: one conversion and one finiteness pass
    (a batch of small windows would otherwise spend more time here than in the kernel).
    Returns the B windows as C-contiguous float64 views."""
    arr = checked_point_array(np.asarray(Xs), np, name_of)
    n, d = arr.shape[1:]
    windows = list(arr)
    if n == d and n > 2:
        for b, window in enumerate(windows):
            if _looks_like_distances(window):
                warnings.warn(
                    f"{name_of(b)} is square, symmetric with a zero diagonal: did you mean "
                    "distance_matrix=True?",
                    stacklevel=4,
                )
                break
    return windows


def checked_point_array(
    arr: Any, xp: ModuleType, name_of: Callable[[int], str] = lambda b: f"Xs[{b}]"
) -> Any:
    """A (B, n, d) numeric array of ``xp`` (numpy, or CuPy for one on the device) as
    C-contiguous float64 of finite values, where it is; a ValueError naming the window else."""
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name_of(0)} must be a numeric array, got dtype {arr.dtype}")
    n, d = arr.shape[1:]
    if n > 0 and d == 0:
        raise ValueError(f"{name_of(0)} has points with 0 coordinates (shape {(n, d)})")
    arr = xp.ascontiguousarray(arr, dtype=np.float64)
    if not math.isfinite(float(arr.sum())) and not bool(xp.isfinite(arr).all()):  # one pass
        b, i, j = (int(v) for v in xp.argwhere(~xp.isfinite(arr))[0])
        raise ValueError(f"{name_of(b)} contains NaN or inf (first at row {i}, column {j})")
    return arr


def check_distance_matrix(D: object, name: str = "X") -> np.ndarray:
    """A square, symmetric, non-negative distance matrix with zero diagonal, as float64.

    Off-diagonal +inf is allowed and means "no edge"; NaN and negative entries are not.
    """
    arr = np.asarray(D)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"distance matrix {name} must be square (n, n), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"distance matrix {name} contains NaN")
    if (arr < 0).any():
        raise ValueError(f"distance matrix {name} has negative entries")
    if arr.size and np.any(np.diagonal(arr) != 0):
        raise ValueError(
            f"distance matrix {name} must have a zero diagonal (vertex births are not supported)"
        )
    if not np.array_equal(arr, arr.T):
        i, j = np.argwhere(arr != arr.T)[0]
        raise ValueError(
            f"distance matrix {name} is not symmetric: [{i},{j}]={arr[i, j]} but "
            f"[{j},{i}]={arr[j, i]}"
        )
    return arr


def _looks_like_distances(arr: np.ndarray) -> bool:
    return bool(np.all(np.diagonal(arr) == 0) and np.array_equal(arr, arr.T))
