"""Open-addressing hash map from a pivot simplex index to the column that owns it."""

import numba as nb
import numpy as np

from gpu_tda.kernels.loop_helper import loop_helper

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

APPARENT = np.int64(-2)
"""Value of a pivot owned by an apparent pair: no column stores it, but it clears the next
dimension like any other pivot."""


@nb.njit(cache=True, nogil=True)
def new_pivot_index(expected: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty map sized for ``expected`` entries at load factor <= 1/2 (keys -1 = empty)."""
    capacity = 16
    while capacity < 2 * expected:
        capacity *= 2
    return np.full(capacity, -1, dtype=np.int64), np.empty(capacity, dtype=np.int64)


@nb.njit(cache=True, nogil=True, inline="always")
def _slot(key: np.int64, mask: np.int64) -> np.int64:
    h = np.uint64(key) * _GOLDEN
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@loop_helper
def lookup(keys: np.ndarray, values: np.ndarray, key: np.int64) -> np.int64:
    """The value stored for ``key``, or -1."""
    mask = np.int64(keys.shape[0] - 1)
    pos = _slot(key, mask)
    while True:
        k = keys[pos]
        if k == key:
            return values[pos]
        if k == -1:
            return np.int64(-1)
        pos = (pos + np.int64(1)) & mask


@loop_helper
def insert(keys: np.ndarray, values: np.ndarray, key: np.int64, value: np.int64) -> None:
    """Store ``key -> value``; the caller keeps the load factor <= 1/2."""
    mask = np.int64(keys.shape[0] - 1)
    pos = _slot(key, mask)
    while keys[pos] != -1 and keys[pos] != key:
        pos = (pos + np.int64(1)) & mask
    keys[pos] = key
    values[pos] = value


@nb.njit(cache=True, nogil=True)
def insert_growing(
    keys: np.ndarray, values: np.ndarray, count: int, key: np.int64, value: np.int64
) -> tuple[np.ndarray, np.ndarray, int]:
    """insert() for a map whose final size is unknown: doubles it when half full.

    ``count`` is the number of keys stored so far; returns the (possibly new) map and count.
    """
    if 2 * (count + 1) > keys.shape[0]:
        new_keys, new_values = new_pivot_index(count + 1)
        for pos in range(keys.shape[0]):
            if keys[pos] != -1:
                insert(new_keys, new_values, keys[pos], values[pos])
        keys, values = new_keys, new_values
    insert(keys, values, key, value)
    return keys, values, count + 1


@nb.njit(cache=True, nogil=True)
def with_room(keys: np.ndarray, values: np.ndarray, extra: int) -> tuple[np.ndarray, np.ndarray]:
    """The same map, rebuilt larger if needed so that ``extra`` more keys keep load <= 1/2."""
    count = 0
    for pos in range(keys.shape[0]):
        if keys[pos] != -1:
            count += 1
    if 2 * (count + extra) <= keys.shape[0]:
        return keys, values
    new_keys, new_values = new_pivot_index(count + extra)
    for pos in range(keys.shape[0]):
        if keys[pos] != -1:
            insert(new_keys, new_values, keys[pos], values[pos])
    return new_keys, new_values
