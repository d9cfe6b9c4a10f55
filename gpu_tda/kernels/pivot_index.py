"""Open-addressing hash map from a pivot simplex index to the column that owns it."""

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


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


@nb.njit(cache=True, nogil=True)
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


@nb.njit(cache=True, nogil=True)
def insert(keys: np.ndarray, values: np.ndarray, key: np.int64, value: np.int64) -> None:
    """Store ``key -> value``; the map was sized so that it never fills up."""
    mask = np.int64(keys.shape[0] - 1)
    pos = _slot(key, mask)
    while keys[pos] != -1 and keys[pos] != key:
        pos = (pos + np.int64(1)) & mask
    keys[pos] = key
    values[pos] = value
