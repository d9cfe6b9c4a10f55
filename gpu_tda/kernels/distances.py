"""Pairwise Euclidean distances, rounded to float32 exactly as the filtration uses them."""

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always")
def squared_distances(coords: np.ndarray, x: np.ndarray, count: int, out: np.ndarray) -> None:
    """out[:count] = squared distances from point ``x`` to the points in columns [0, count) of
    ``coords`` (d, n), summed in float64 coordinate by coordinate: the one summation order every
    kernel uses, so that lengths computed anywhere round to the same float32."""
    acc = out[:count]
    acc[:] = 0.0
    for k in range(coords.shape[0]):
        row = coords[k]
        xk = x[k]
        for p in range(count):
            diff = row[p] - xk
            acc[p] += diff * diff


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
        squared_distances(coords, coords[:, i], n, acc)
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
