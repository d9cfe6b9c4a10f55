"""Pairwise Euclidean distances, rounded to float32 exactly as the filtration uses them."""

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """(n, d) float64 points -> (n, n) float32 distances, each summed in float64 then rounded.

    Summing squared differences coordinate by coordinate (not the |x|^2 - 2xy + |y|^2
    shortcut) keeps duplicate points at distance exactly 0 and large coordinates accurate.
    Coordinates are transposed first so the inner loop runs over contiguous points (SIMD).
    """
    n, d = points.shape
    coords = np.ascontiguousarray(points.T)
    out = np.empty((n, n), dtype=np.float32)
    acc = np.empty(n, dtype=np.float64)
    for i in range(n):
        acc[:] = 0.0
        for k in range(d):
            row = coords[k]
            xi = row[i]
            for j in range(n):
                diff = row[j] - xi
                acc[j] += diff * diff
        target = out[i]
        for j in range(n):
            target[j] = np.float32(np.sqrt(acc[j]))
    return out
