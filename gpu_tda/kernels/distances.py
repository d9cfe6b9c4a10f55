"""Pairwise Euclidean distances, rounded to float32 exactly as the filtration uses them."""

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """(n, d) float64 points -> (n, n) float32 distances, each summed in float64 then rounded.

    Summing differences (not the |x|^2 - 2xy + |y|^2 shortcut) keeps duplicate points at
    distance exactly 0 and large coordinates accurate.
    """
    n, d = points.shape
    out = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        for j in range(i):
            acc = 0.0
            for k in range(d):
                diff = points[i, k] - points[j, k]
                acc += diff * diff
            value = np.float32(np.sqrt(acc))
            out[i, j] = value
            out[j, i] = value
    return out
