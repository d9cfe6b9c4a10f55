"""A column under reduction: a binary heap of (diameter, index) entries over Z/2.

The top entry is the column's pivot in reverse filtration order: the smallest diameter, and
among equal diameters the largest index. Equal entries cancel in pairs when popped (Z/2).
"""

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always")
def comes_first(d1: np.float32, i1: np.int64, d2: np.float32, i2: np.int64) -> bool:
    """True when entry 1 is nearer the top of the heap than entry 2."""
    return d1 < d2 or (d1 == d2 and i1 > i2)


@nb.njit(cache=True, nogil=True)
def grow(diams: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Double the capacity of a heap (or any diameter/index array pair)."""
    size = diams.shape[0]
    new_d = np.empty(2 * size + 16, dtype=diams.dtype)
    new_i = np.empty(2 * size + 16, dtype=indices.dtype)
    new_d[:size] = diams
    new_i[:size] = indices
    return new_d, new_i


@nb.njit(cache=True, nogil=True)
def push(diams: np.ndarray, indices: np.ndarray, size: int, d: np.float32, i: np.int64) -> int:
    """Insert (d, i); the caller guarantees capacity. Returns the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if comes_first(d, i, diams[parent], indices[parent]):
            diams[pos] = diams[parent]
            indices[pos] = indices[parent]
            pos = parent
        else:
            break
    diams[pos] = d
    indices[pos] = i
    return size + 1


@nb.njit(cache=True, nogil=True)
def pop(diams: np.ndarray, indices: np.ndarray, size: int) -> int:
    """Remove the top entry. Returns the new size."""
    size -= 1
    if size == 0:
        return 0
    d = diams[size]
    i = indices[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and comes_first(diams[right], indices[right], diams[child], indices[child]):
            child = right
        if comes_first(diams[child], indices[child], d, i):
            diams[pos] = diams[child]
            indices[pos] = indices[child]
            pos = child
        else:
            break
    diams[pos] = d
    indices[pos] = i
    return size


@nb.njit(cache=True, nogil=True)
def pop_pivot(
    diams: np.ndarray, indices: np.ndarray, size: int
) -> tuple[int, np.float32, np.int64]:
    """Remove and return the first entry that survives Z/2 cancellation.

    Returns (new size, diameter, index); index is -1 when the column is zero.
    """
    while size > 0:
        d = diams[0]
        i = indices[0]
        size = pop(diams, indices, size)
        if size == 0 or indices[0] != i:
            return size, d, i
        size = pop(diams, indices, size)
    return 0, np.float32(0.0), np.int64(-1)
