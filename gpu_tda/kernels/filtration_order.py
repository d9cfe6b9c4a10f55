"""Sorting simplices into filtration order: diameter ascending, ties by index descending.

Reverse filtration order (the order columns are reduced in) is the exact opposite. Both use one
packed uint64 key per simplex when indices fit in 32 bits (diameters are non-negative float32,
whose bit patterns sort like the values), else a two-pass stable sort.
"""

import numba as nb
import numpy as np

_LOW32 = np.uint64(0xFFFFFFFF)


@nb.njit(cache=True, nogil=True)
def sort_simplices(
    diams: np.ndarray, indices: np.ndarray, reverse: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return (diams, indices) sorted in filtration order, or reverse filtration order."""
    m = diams.shape[0]
    if m == 0:
        return diams.copy(), indices.copy()
    if indices.max() <= np.int64(0xFFFFFFFF):
        bits = diams.view(np.uint32)
        keys = np.empty(m, dtype=np.uint64)
        for t in range(m):
            b = np.uint64(bits[t])
            idx = np.uint64(indices[t])
            if reverse:
                keys[t] = ((b ^ _LOW32) << np.uint64(32)) | idx
            else:
                keys[t] = (b << np.uint64(32)) | (idx ^ _LOW32)
        keys.sort()
        out_d = np.empty(m, dtype=np.float32)
        out_i = np.empty(m, dtype=np.int64)
        out_bits = out_d.view(np.uint32)
        for t in range(m):
            key = keys[t]
            b = key >> np.uint64(32)
            idx = key & _LOW32
            if reverse:
                out_bits[t] = np.uint32(b ^ _LOW32)
                out_i[t] = np.int64(idx)
            else:
                out_bits[t] = np.uint32(b)
                out_i[t] = np.int64(idx ^ _LOW32)
        return out_d, out_i
    # indices too wide to pack: stable sort by index, then stably by diameter
    if reverse:
        order = np.argsort(indices, kind="mergesort")
        order = order[np.argsort(-diams[order], kind="mergesort")]
    else:
        order = np.argsort(-indices, kind="mergesort")
        order = order[np.argsort(diams[order], kind="mergesort")]
    return diams[order], indices[order]
