"""A column under reduction: a binary heap of (diameter, index) entries over Z/2.

The top entry is the column's pivot in reverse filtration order: the smallest diameter, and
among equal diameters the largest index. Equal entries cancel in pairs when popped (Z/2).
"""

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from gpu_tda.kernels.loop_helper import loop_helper


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


@loop_helper
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


@loop_helper
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


@loop_helper
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


# Packed keys: when every index fits in 32 bits, one uint64 per entry orders entries exactly
# like (diameter, index) above: high half the float32 bits of the diameter (non-negative, so
# they sort like the values), low half the complemented index. A 4-ary heap of such keys
# moves half the memory of the two-array heap per level and has half the levels.

_LOW32 = np.uint64(0xFFFFFFFF)


@intrinsic
def float32_bits(typingctx, value):
    """Reinterpret a float32 as its uint32 bit pattern (no conversion, no allocation)."""
    sig = types.uint32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.uint32))

    return sig, codegen


@intrinsic
def _bits_float32(typingctx, bits):
    """Reinterpret a uint32 bit pattern as a float32."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


@nb.njit(cache=True, nogil=True, inline="always")
def pack(d: np.float32, i: np.int64) -> np.uint64:
    """The packed key of entry (d, i); requires d >= 0 and 0 <= i < 2**32."""
    bits = np.uint64(float32_bits(np.float32(d)))
    return (bits << np.uint64(32)) | (_LOW32 ^ np.uint64(i))


@nb.njit(cache=True, nogil=True, inline="always")
def unpack(key: np.uint64) -> tuple[np.float32, np.int64]:
    """(d, i) of a packed key."""
    d = _bits_float32(np.uint32(key >> np.uint64(32)))
    return d, np.int64((key & _LOW32) ^ _LOW32)


@nb.njit(cache=True, nogil=True)
def grow_keys(keys: np.ndarray) -> np.ndarray:
    """Double the capacity of a packed heap."""
    out = np.empty(2 * keys.shape[0] + 16, dtype=np.uint64)
    out[: keys.shape[0]] = keys
    return out


@loop_helper
def push_key(keys: np.ndarray, size: int, key: np.uint64) -> int:
    """Insert into a 4-ary min-heap of packed keys; the caller guarantees capacity."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 2
        if key < keys[parent]:
            keys[pos] = keys[parent]
            pos = parent
        else:
            break
    keys[pos] = key
    return size + 1


@loop_helper
def pop_key(keys: np.ndarray, size: int) -> int:
    """Remove the smallest key. Returns the new size."""
    size -= 1
    if size == 0:
        return 0
    key = keys[size]
    pos = 0
    while True:
        child = 4 * pos + 1
        if child >= size:
            break
        best = child
        best_key = keys[child]
        for other in range(child + 1, min(child + 4, size)):
            if keys[other] < best_key:
                best = other
                best_key = keys[other]
        if best_key < key:
            keys[pos] = best_key
            pos = best
        else:
            break
    keys[pos] = key
    return size


@loop_helper
def pop_pivot_key(keys: np.ndarray, size: int) -> tuple[int, np.uint64, bool]:
    """pop_pivot for a packed heap: (new size, key, found)."""
    while size > 0:
        key = keys[0]
        size = pop_key(keys, size)
        if size == 0 or keys[0] != key:
            return size, key, True
        size = pop_key(keys, size)
    return 0, np.uint64(0), False
