"""Dimension 0: connected components, by minimum spanning tree.

Every Rips vertex is born at 0; a component dies at the length of the MST edge that merges it.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels.filtration_order import sort_simplices


@nb.njit(cache=True, nogil=True)
def h0_prim(dist: np.ndarray, threshold: np.float32) -> tuple[np.ndarray, int]:
    """Dense O(n^2) Prim: (positive MST edge lengths, number of components).

    The fast path when only H0 is wanted: no edge list, no sort.
    """
    n = dist.shape[0]
    key = np.full(n, np.inf, dtype=np.float32)
    done = np.zeros(n, dtype=np.bool_)
    deaths = np.empty(n, dtype=np.float32)
    n_deaths = 0
    components = 0
    for _ in range(n):
        best = -1
        best_key = np.float32(np.inf)
        for v in range(n):
            if not done[v] and (best == -1 or key[v] < best_key):
                best = v
                best_key = key[v]
        done[best] = True
        if best_key == np.inf:
            components += 1
        elif best_key > 0:
            deaths[n_deaths] = best_key
            n_deaths += 1
        row = dist[best]
        for v in range(n):
            d = row[v]
            if not done[v] and d <= threshold and d < key[v]:
                key[v] = d
    return deaths[:n_deaths].copy(), components


@nb.njit(cache=True, nogil=True)
def sorted_edges(dist: np.ndarray, threshold: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """All edges of length <= threshold as (diameters, indices) in filtration order."""
    n = dist.shape[0]
    count = 0
    for i in range(n):
        for j in range(i):
            if dist[i, j] <= threshold:
                count += 1
    diams = np.empty(count, dtype=np.float32)
    indices = np.empty(count, dtype=np.int64)
    t = 0
    for i in range(n):
        base = np.int64(i) * (i - 1) // 2
        for j in range(i):
            d = dist[i, j]
            if d <= threshold:
                diams[t] = d
                indices[t] = base + j
                t += 1
    return sort_simplices(diams, indices, False)


@nb.njit(cache=True, nogil=True, inline="always")
def edge_vertices(index: np.int64) -> tuple[int, int]:
    """(i, j) with i > j for edge index C(i, 2) + j."""
    i = int((1.0 + np.sqrt(1.0 + 8.0 * index)) / 2.0)
    while np.int64(i) * (i - 1) // 2 > index:
        i -= 1
    while np.int64(i + 1) * i // 2 <= index:
        i += 1
    return i, int(index - np.int64(i) * (i - 1) // 2)


@nb.njit(cache=True, nogil=True)
def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@nb.njit(cache=True, nogil=True)
def h0_kruskal(
    n: int, edge_diams: np.ndarray, edge_indices: np.ndarray
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Union-find over edges in filtration order.

    Returns (positive MST edge lengths, number of components, and the non-tree edges in reverse
    filtration order: the dimension-1 columns left after clearing).
    """
    parent = np.arange(n)
    rank = np.zeros(n, dtype=np.int32)
    m = edge_diams.shape[0]
    deaths = np.empty(n, dtype=np.float32)
    n_deaths = 0
    cycle = np.empty(m, dtype=np.int64)
    n_cycle = 0
    components = n
    for t in range(m):
        i, j = edge_vertices(edge_indices[t])
        ri = _find(parent, i)
        rj = _find(parent, j)
        if ri == rj:
            cycle[n_cycle] = t
            n_cycle += 1
            continue
        if rank[ri] < rank[rj]:
            ri, rj = rj, ri
        parent[rj] = ri
        if rank[ri] == rank[rj]:
            rank[ri] += 1
        components -= 1
        if edge_diams[t] > 0:
            deaths[n_deaths] = edge_diams[t]
            n_deaths += 1
    col_d = np.empty(n_cycle, dtype=np.float32)
    col_i = np.empty(n_cycle, dtype=np.int64)
    for t in range(n_cycle):
        src = cycle[n_cycle - 1 - t]
        col_d[t] = edge_diams[src]
        col_i[t] = edge_indices[src]
    return deaths[:n_deaths].copy(), components, col_d, col_i
