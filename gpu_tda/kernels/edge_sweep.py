"""Sweeping the edges in filtration order over bitset adjacency: edge zero pivots, triangles.

Row v of an adjacency bitset holds v's neighbours among the edges added so far (64 vertices per
word). Two rows follow the sweep:

* ``group`` holds every edge of diameter <= the current one (ties included): the complex at that
  scale. The zero-pivot vertex of a simplex of diameter d (the largest vertex within d of all its
  vertices) is then the highest bit of the AND of its vertices' rows: a few word operations
  instead of a search.
* ``seen`` holds the edges up to the current one in filtration order. A triangle enters the
  filtration with its last edge (x, y), so the triangles met at that edge are x, y and each
  common neighbour in ``seen``: every triangle within the threshold exactly once, each with its
  diameter, and no candidate beyond the threshold is ever looked at.

Triangle classification (cleared, apparent or a column to reduce) happens in the same sweep.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels import pivot_index as pmap
from gpu_tda.kernels.bits import leading_zeros, ones
from gpu_tda.kernels.coboundary import cofacet_index, earliest_cofacet
from gpu_tda.kernels.combinatorics import simplex_vertices, triangle_index
from gpu_tda.kernels.h0 import edge_vertices, tie_group
from gpu_tda.kernels.loop_helper import loop_helper

CLEARED = np.int32(-2)
"""Triangle code: a pivot of dimension 1, not a column."""
COLUMN = np.int32(-3)
"""Triangle code: a column to reduce. Codes >= 0: apparent, its pivot adds that vertex."""


@nb.njit(cache=True, nogil=True, inline="always")
def _link(rows, x, y):
    rows[x, y >> 6] |= np.uint64(1) << np.uint64(y & 63)
    rows[y, x >> 6] |= np.uint64(1) << np.uint64(x & 63)


@loop_helper
def highest_common(rows: np.ndarray, a: int, b: int, c: int) -> int:
    """The largest vertex adjacent to a, b and (unless c < 0) c in ``rows``, or -1."""
    for w in range(rows.shape[1] - 1, -1, -1):
        word = rows[a, w] & rows[b, w]
        if c >= 0:
            word &= rows[c, w]
        if word != 0:
            return w * 64 + 63 - int(leading_zeros(word))
    return -1


@nb.njit(cache=True, nogil=True)
def edge_zero_pivots(n: int, edge_d: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each edge (in filtration order, as sorted, with its vertices ``ends``): its
    zero-pivot vertex, or -1."""
    m = edge_d.shape[0]
    rows = np.zeros((n, (n + 63) >> 6), dtype=np.uint64)
    out = np.empty(m, dtype=np.int32)
    t = np.int64(0)
    while t < m:
        _, end = tie_group(edge_d, t)
        for s in range(t, end):
            _link(rows, ends[s, 0], ends[s, 1])
        for s in range(t, end):
            out[s] = highest_common(rows, ends[s, 0], ends[s, 1], -1)
        t = end
    return out


@nb.njit(cache=True, nogil=True)
def classify_edges(
    dist: np.ndarray,
    sorted_dist: np.ndarray,
    order: np.ndarray,
    binom: np.ndarray,
    threshold: np.float32,
    edge_d: np.ndarray,
    edge_i: np.ndarray,
    ends: np.ndarray,
    col_pos: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pivot diameters, pivot indices, apparent flags) of the dimension-1 columns, the sorted
    edges (``h0.sorted_edges``) at positions ``col_pos``: ``cohomology.classify_all`` for dim 1,
    by the sweep, with the apparent test and the triangle index written out for an edge."""
    n = dist.shape[0]
    zero = edge_zero_pivots(n, edge_d, ends)
    ncols = col_pos.shape[0]
    pivot_d = np.empty(ncols, np.float32)
    pivot_i = np.empty(ncols, np.int64)
    apparent = np.zeros(ncols, np.bool_)
    verts = np.empty(2, dtype=np.int64)
    for c in range(ncols):
        t = col_pos[c]
        x = np.int64(ends[t, 0])
        y = np.int64(ends[t, 1])
        v = np.int64(zero[t])
        pd = edge_d[t]
        if v != -1:
            apparent[c] = _edge_is_apparent(dist, pd, x, y, v)
        else:
            verts[0] = x
            verts[1] = y
            pd, v = earliest_cofacet(dist, sorted_dist, order, 1, threshold, pd, verts)
        pivot_d[c] = pd
        pivot_i[c] = -1 if v == -1 else triangle_index(binom, x, y, v)
    return pivot_d, pivot_i, apparent


@loop_helper
def _edge_is_apparent(dist, d, x, y, v):
    """``coboundary.is_apparent`` for edge (x > y) of length d and its zero-pivot vertex v.

    The triangle's edges are all within d. Its facets, latest first in filtration order, drop
    its vertices from the largest down, and the first of them still of length d is the
    triangle's pivot: the pair is apparent when that facet is (x, y) itself.
    """
    if v > x:  # (x, y) is the facet dropping v, the first one
        return True
    if v > y:  # first (v, y), then (x, y)
        return dist[v, y] != d
    return dist[y, v] != d and dist[x, v] != d  # first (y, v), then (x, v), then (x, y)


@loop_helper
def _triangle_is_apparent(dist, d, a, b, c, v):
    """``coboundary.is_apparent`` for triangle a > b > c of diameter d and its zero-pivot
    vertex v, as ``_edge_is_apparent`` is for an edge.

    The facets of the tetrahedron, latest first, drop a, b, c in turn until they reach v; the
    pair is apparent when none of those before it keeps an edge of length d. Once v is below
    c, one of them holds the triangle's longest edge: never apparent.
    """
    if v > a:
        return True
    if v > b:  # first {v, b, c}
        return dist[v, b] != d and dist[v, c] != d and dist[b, c] != d
    if v > c:  # first {b, v, c}, then {a, v, c}
        return (
            dist[b, v] != d
            and dist[v, c] != d
            and dist[b, c] != d
            and dist[a, v] != d
            and dist[a, c] != d
        )
    return False


@nb.njit(cache=True, nogil=True)
def _triangle_offsets(n, edge_i):
    """offsets[t] = number of triangles whose last edge comes before edge t."""
    m = edge_i.shape[0]
    seen = np.zeros((n, (n + 63) >> 6), dtype=np.uint64)
    offsets = np.zeros(m + 1, dtype=np.int64)
    for t in range(m):
        x, y = edge_vertices(edge_i[t])
        _link(seen, x, y)
        count = 0
        for w in range(seen.shape[1]):
            count += int(ones(seen[x, w] & seen[y, w]))
        offsets[t + 1] = offsets[t] + count
    return offsets


@nb.njit(cache=True, nogil=True)
def _classify_triangles(dist, binom, edge_d, edge_i, keys, values, offsets, tri_i, codes):
    """Index and code of every triangle, filed under its last edge (``offsets``)."""
    n = dist.shape[0]
    m = edge_i.shape[0]
    width = (n + 63) >> 6
    seen = np.zeros((n, width), dtype=np.uint64)
    group = np.zeros((n, width), dtype=np.uint64)
    t = 0
    while t < m:
        _, end = tie_group(edge_d, t)
        for s in range(t, end):
            x, y = edge_vertices(edge_i[s])
            _link(group, x, y)
        d = edge_d[t]
        for s in range(t, end):
            x, y = edge_vertices(edge_i[s])  # x > y
            _link(seen, x, y)
            pos = offsets[s]
            for w in range(width):
                word = seen[x, w] & seen[y, w]
                while word != 0:
                    z = w * 64 + 63 - int(leading_zeros(word))
                    word ^= np.uint64(1) << np.uint64(z & 63)
                    if z > x:
                        a, b, c = z, x, y
                    elif z > y:
                        a, b, c = x, z, y
                    else:
                        a, b, c = x, y, z
                    index = binom[3, a] + binom[2, b] + binom[1, c]
                    tri_i[pos] = index
                    # an apparent pair is a persistence pair, so its triangle is no pivot of
                    # dimension 1: only the others need the lookup
                    v = highest_common(group, x, y, z)
                    if v != -1 and _triangle_is_apparent(dist, d, a, b, c, v):
                        codes[pos] = v
                    elif pmap.lookup(keys, values, index) != -1:
                        codes[pos] = CLEARED
                    else:
                        codes[pos] = COLUMN
                    pos += 1
        t = end


@nb.njit(cache=True, nogil=True)
def triangle_columns(
    dist: np.ndarray,
    binom: np.ndarray,
    edge_d: np.ndarray,
    edge_i: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    keep_simplices: bool,
    record_apparent: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dimension-2 columns from every edge (sorted, within the threshold) and the dimension-1
    pivots in keys/values: ``assembly.assemble_columns`` for dim 1, by the sweep.

    Returns (the columns to reduce, unsorted; when ``keep_simplices``, every triangle; the new
    pivot map, holding the apparent pairs' pivots when ``record_apparent``).
    """
    n = dist.shape[0]
    m = edge_i.shape[0]
    offsets = _triangle_offsets(n, edge_i)
    total = offsets[m]
    tri_i = np.empty(total, dtype=np.int64)
    codes = np.empty(total, dtype=np.int32)
    _classify_triangles(dist, binom, edge_d, edge_i, keys, values, offsets, tri_i, codes)
    n_cols = 0
    for p in range(total):
        if codes[p] == COLUMN:
            n_cols += 1
    col_d = np.empty(n_cols, dtype=np.float32)
    col_i = np.empty(n_cols, dtype=np.int64)
    next_d = np.empty(total if keep_simplices else 0, dtype=np.float32)
    new_keys, new_values = pmap.new_pivot_index(16)
    n_keys = 0
    verts = np.empty(3, dtype=np.int64)
    c = 0
    for t in range(m):
        d = edge_d[t]
        for p in range(offsets[t], offsets[t + 1]):
            code = codes[p]
            if keep_simplices:
                next_d[p] = d
            if code == COLUMN:
                col_d[c] = d
                col_i[c] = tri_i[p]
                c += 1
            elif code >= 0 and record_apparent:
                simplex_vertices(tri_i[p], 2, n, binom, verts)
                pivot = cofacet_index(binom, 2, tri_i[p], verts, code)
                new_keys, new_values, n_keys = pmap.insert_growing(
                    new_keys, new_values, n_keys, pivot, pmap.APPARENT
                )
    next_i = tri_i if keep_simplices else np.empty(0, dtype=np.int64)
    return col_d, col_i, next_d, next_i, new_keys, new_values
