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


@nb.njit(cache=True, nogil=True)
def enclosing_radius(dist: np.ndarray) -> np.float32:
    """min over points of the largest distance from it: the scale where the complex is a cone.

    At any scale >= this radius one vertex is joined to every other, so every Rips complex from
    there on is a cone (contractible): no class of dimension >= 1 is born or survives past it,
    and a threshold there gives the same diagrams as no threshold, with far fewer simplices.
    """
    n = dist.shape[0]
    best = np.float32(np.inf)
    for i in range(n):
        far = np.float32(0.0)
        row = dist[i]
        for j in range(n):
            if row[j] > far:
                far = row[j]
        if far < best:
            best = far
    return best
