"""Persistent cohomology of the Rips filtration in dimensions >= 1 (the ideas behind Ripser).

Columns are the k-simplices, reduced in reverse filtration order; a column's coboundary is
enumerated on the fly from the distance matrix (simplices are int64 indices in the
combinatorial number system, never stored as vertex lists). Clearing drops columns that were
pivots one dimension lower; emergent pairs (a column whose first zero-persistence cofacet is
still unclaimed) end the pivot scan early; only the reduction matrix V is stored, and coboundaries
of its entries are regenerated when a column is added. Most columns pair with their first
pivot, so a column's coboundary heap is built only when another column must be added to it.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels import pivot_index as pmap
from gpu_tda.kernels import working_column as wc
from gpu_tda.kernels.combinatorics import simplex_vertices
from gpu_tda.kernels.filtration_order import sort_simplices


@nb.njit(cache=True, nogil=True)
def _push_coboundary(dist, binom, dim, threshold, diam, index, verts, heap_d, heap_i, size):
    """Push every cofacet (within threshold) of simplex ``index`` into the heap."""
    n = dist.shape[0]
    simplex_vertices(index, dim, n, binom, verts)
    idx_below = index
    idx_above = np.int64(0)
    k = dim + 1
    j = 0
    for v in range(n - 1, -1, -1):
        if j <= dim and v == verts[j]:
            idx_below -= binom[k, v]
            idx_above += binom[k + 1, v]
            k -= 1
            j += 1
            continue
        cd = diam
        for t in range(dim + 1):
            x = dist[verts[t], v]
            if x > cd:
                cd = x
        if cd > threshold:
            continue
        if size == heap_d.shape[0]:
            heap_d, heap_i = wc.grow(heap_d, heap_i)
        size = wc.push(heap_d, heap_i, size, cd, idx_above + binom[k + 1, v] + idx_below)
    return heap_d, heap_i, size


@nb.njit(cache=True, nogil=True)
def _cofacet_index(binom, dim, index, verts, v):
    """Index of the cofacet that adds vertex v (not in the simplex) to simplex ``index``."""
    cofacet = index
    below = 0
    for j in range(dim + 1):
        u = verts[j]
        if u > v:  # u moves up one position
            pos = dim - j + 1
            cofacet += binom[pos + 1, u] - binom[pos, u]
        else:
            below += 1
    return cofacet + binom[below + 1, v]


@nb.njit(cache=True, nogil=True)
def _in_simplex(verts, dim, v):
    for t in range(dim + 1):
        if verts[t] == v:
            return True
    return False


@nb.njit(cache=True, nogil=True)
def _coboundary_pivot(dist, order, binom, dim, threshold, diam, index, verts):
    """The pivot of a column's unreduced coboundary, found without a heap.

    The pivot is the cofacet with the smallest diameter, ties to the largest index (the
    largest added vertex). No cofacet is smaller than the simplex, so when some vertex v lies
    within ``diam`` of every vertex, the largest such v gives the pivot: it is searched in the
    smallest ball around one of the simplex's vertices (``order`` lists each vertex's neighbours
    nearest first) or, when balls are big, from the top index down. Otherwise one full scan.
    Returns (diameter, index or -1).
    """
    n = dist.shape[0]
    simplex_vertices(index, dim, n, binom, verts)
    centre = verts[0]
    ball = n
    for t in range(dim + 1):
        row = dist[verts[t]]
        nbrs = order[verts[t]]
        lo = 0
        hi = n
        while lo < hi:  # number of neighbours within diam
            mid = (lo + hi) >> 1
            if row[nbrs[mid]] <= diam:
                lo = mid + 1
            else:
                hi = mid
        if lo < ball:
            ball = lo
            centre = verts[t]
    best_v = -1
    if 4 * ball < n:
        nbrs = order[centre]
        for p in range(ball):
            v = nbrs[p]
            if v <= best_v or _in_simplex(verts, dim, v):
                continue
            inside = True
            for t in range(dim + 1):
                if dist[verts[t], v] > diam:
                    inside = False
                    break
            if inside:
                best_v = v
    else:
        for v in range(n - 1, -1, -1):
            if _in_simplex(verts, dim, v):
                continue
            inside = True
            for t in range(dim + 1):
                if dist[verts[t], v] > diam:
                    inside = False
                    break
            if inside:
                best_v = v
                break
    if best_v != -1:
        return diam, _cofacet_index(binom, dim, index, verts, best_v)
    best_d = np.float32(np.inf)
    for v in range(n):
        if _in_simplex(verts, dim, v):
            continue
        cd = diam
        for t in range(dim + 1):
            x = dist[verts[t], v]
            if x > cd:
                cd = x
        if cd <= best_d and cd <= threshold:
            best_d = cd
            best_v = v
    if best_v == -1:
        return best_d, np.int64(-1)
    return best_d, _cofacet_index(binom, dim, index, verts, best_v)


@nb.njit(cache=True, nogil=True)
def neighbour_order(dist: np.ndarray) -> np.ndarray:
    """Row v lists all vertices by increasing distance from v (int32)."""
    n = dist.shape[0]
    order = np.empty((n, n), dtype=np.int32)
    for v in range(n):
        order[v] = np.argsort(dist[v], kind="mergesort").astype(np.int32)
    return order


@nb.njit(cache=True, nogil=True)
def reduce_coboundary(
    dist: np.ndarray,
    order: np.ndarray,
    binom: np.ndarray,
    dim: int,
    threshold: np.float32,
    col_d: np.ndarray,
    col_i: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce the dim-simplex columns (reverse filtration order); return (births, deaths).

    Records each pivot in the (keys, values) map, which the caller uses to clear the next
    dimension's columns. Essential classes get death = inf.
    """
    ncols = col_d.shape[0]
    verts = np.empty(dim + 2, dtype=np.int64)
    cob_d = np.empty(256, dtype=np.float32)
    cob_i = np.empty(256, dtype=np.int64)
    red_heap_d = np.empty(64, dtype=np.float32)
    red_heap_i = np.empty(64, dtype=np.int64)
    red_start = np.zeros(ncols + 1, dtype=np.int64)
    red_d = np.empty(64, dtype=np.float32)
    red_i = np.empty(64, dtype=np.int64)
    red_len = 0
    births = np.empty(16, dtype=np.float32)
    deaths = np.empty(16, dtype=np.float32)
    n_bars = 0
    for c in range(ncols):
        sd = col_d[c]
        si = col_i[c]
        red_size = wc.push(red_heap_d, red_heap_i, 0, sd, si)
        pd, pi = _coboundary_pivot(dist, order, binom, dim, threshold, sd, si, verts)
        cob_size = -1  # the coboundary heap is built only once a column must be added
        while True:
            if pi == -1:
                death = np.float32(np.inf)
            else:
                owner = pmap.lookup(keys, values, pi)
                if owner != -1:
                    if cob_size == -1:
                        cob_d, cob_i, cob_size = _push_coboundary(
                            dist, binom, dim, threshold, sd, si, verts, cob_d, cob_i, 0
                        )
                    # add column `owner` (its simplex and its stored reduction entries)
                    lo = red_start[owner]
                    hi = red_start[owner + 1]
                    while red_size + 1 + hi - lo > red_heap_d.shape[0]:
                        red_heap_d, red_heap_i = wc.grow(red_heap_d, red_heap_i)
                    red_size = wc.push(red_heap_d, red_heap_i, red_size, col_d[owner], col_i[owner])
                    cob_d, cob_i, cob_size = _push_coboundary(
                        dist,
                        binom,
                        dim,
                        threshold,
                        col_d[owner],
                        col_i[owner],
                        verts,
                        cob_d,
                        cob_i,
                        cob_size,
                    )
                    for e in range(lo, hi):
                        red_size = wc.push(red_heap_d, red_heap_i, red_size, red_d[e], red_i[e])
                        cob_d, cob_i, cob_size = _push_coboundary(
                            dist,
                            binom,
                            dim,
                            threshold,
                            red_d[e],
                            red_i[e],
                            verts,
                            cob_d,
                            cob_i,
                            cob_size,
                        )
                    cob_size, pd, pi = wc.pop_pivot(cob_d, cob_i, cob_size)
                    if pi != -1:
                        cob_size = wc.push(cob_d, cob_i, cob_size, pd, pi)
                    continue
                death = pd
                pmap.insert(keys, values, pi, c)
                # store V's column: the working reduction column minus the column itself
                red_size, _, _ = wc.pop_pivot(red_heap_d, red_heap_i, red_size)
                while True:
                    red_size, ed, ei = wc.pop_pivot(red_heap_d, red_heap_i, red_size)
                    if ei == -1:
                        break
                    if red_len == red_d.shape[0]:
                        red_d, red_i = wc.grow(red_d, red_i)
                    red_d[red_len] = ed
                    red_i[red_len] = ei
                    red_len += 1
            if death > sd:
                if n_bars == births.shape[0]:
                    births, deaths = wc.grow(births, deaths)
                births[n_bars] = sd
                deaths[n_bars] = death
                n_bars += 1
            break
        red_start[c + 1] = red_len
    return births[:n_bars].copy(), deaths[:n_bars].copy()


@nb.njit(cache=True, nogil=True)
def assemble_columns(
    dist: np.ndarray,
    binom: np.ndarray,
    dim: int,
    threshold: np.float32,
    simp_d: np.ndarray,
    simp_i: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    keep_simplices: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From all dim-simplices, enumerate the (dim+1)-simplices within threshold.

    Returns (columns: those not cleared by a dim pivot, in reverse filtration order; and, when
    ``keep_simplices``, every (dim+1)-simplex for the next assembly, else empty arrays).
    Each (dim+1)-simplex is met once: from its facet without its largest vertex.
    """
    n = dist.shape[0]
    verts = np.empty(dim + 1, dtype=np.int64)
    col_d = np.empty(max(16, simp_d.shape[0]), dtype=np.float32)
    col_i = np.empty(max(16, simp_d.shape[0]), dtype=np.int64)
    n_cols = 0
    next_d = np.empty(16, dtype=np.float32)
    next_i = np.empty(16, dtype=np.int64)
    n_next = 0
    for s in range(simp_d.shape[0]):
        sd = simp_d[s]
        si = simp_i[s]
        simplex_vertices(si, dim, n, binom, verts)
        for v in range(n - 1, verts[0], -1):
            row = dist[v]
            cd = sd
            for t in range(dim + 1):
                x = row[verts[t]]
                if x > cd:
                    cd = x
            if cd > threshold:
                continue
            cofacet = binom[dim + 2, v] + si
            if keep_simplices:
                if n_next == next_d.shape[0]:
                    next_d, next_i = wc.grow(next_d, next_i)
                next_d[n_next] = cd
                next_i[n_next] = cofacet
                n_next += 1
            if pmap.lookup(keys, values, cofacet) == -1:
                if n_cols == col_d.shape[0]:
                    col_d, col_i = wc.grow(col_d, col_i)
                col_d[n_cols] = cd
                col_i[n_cols] = cofacet
                n_cols += 1
    col_d, col_i = sort_simplices(col_d[:n_cols], col_i[:n_cols], True)
    return col_d, col_i, next_d[:n_next].copy(), next_i[:n_next].copy()
