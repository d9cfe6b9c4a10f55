"""The combinatorial number system: a k-simplex {v_k > ... > v_0} has index sum C(v_i, i + 1).

Indices let the cohomology kernels name simplices with one int64 and never store them.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels.loop_helper import loop_helper


@nb.njit(cache=True, nogil=True)
def binomial_table(n: int, kmax: int) -> np.ndarray:
    """B[k, m] = C(m, k) for 0 <= k <= kmax, 0 <= m <= n (int64)."""
    table = np.zeros((kmax + 1, n + 1), dtype=np.int64)
    for m in range(n + 1):
        table[0, m] = 1
    for k in range(1, kmax + 1):
        for m in range(1, n + 1):
            table[k, m] = table[k - 1, m - 1] + table[k, m - 1]
    return table


@loop_helper
def simplex_vertices(index: np.int64, dim: int, n: int, binom: np.ndarray, out: np.ndarray) -> None:
    """Write the dim+1 vertices of simplex ``index`` into out[0..dim], largest first."""
    top = n - 1
    for pos in range(dim + 1):
        k = dim + 1 - pos
        # largest v <= top with C(v, k) <= index (binary search; C(., k) is increasing)
        lo = k - 1
        hi = top
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if binom[k, mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        out[pos] = lo
        index -= binom[k, lo]
        top = lo - 1


@nb.njit(cache=True, nogil=True, inline="always")
def triangle_index(binom: np.ndarray, x: int, y: int, z: int) -> np.int64:
    """Index of triangle {x, y, z}, given x > y (z anywhere else)."""
    if z > x:
        return binom[3, z] + binom[2, x] + binom[1, y]
    if z > y:
        return binom[3, x] + binom[2, z] + binom[1, y]
    return binom[3, x] + binom[2, y] + binom[1, z]
