"""The working coboundary of a dimension-1 column as one bitset per edge: additions in O(1).

A triangle's place in the filtration is (diameter, index descending), and its diameter is the
length of its longest edge. So the working column keeps one bitset per edge within the
threshold, by the edge's rank in filtration order: bit z of row r is the triangle made of edge
r and vertex z, filed under r because r is its longest edge. Adding a coboundary toggles one
bit per cofacet (Z/2 cancels at once instead of piling up in a heap), and the pivot is the first
occupied row, found through a summary bitset by a cursor that only moves forward while a column
is reduced (every column added has its pivot at the current one and the rest after it); the
summary marks every row that was toggled, and the search unmarks those found empty. For a
fixed edge a larger third vertex means a larger triangle index, so a row's pivot is its top bit.

Ties: a triangle whose longest edges tie is filed under the highest ranked of them (always the
same row, so its copies cancel); edges of one length have contiguous ranks, and the pivot
search takes the largest triangle index across that tie group.

The rows take (edges x n / 64) words; past ``MAX_BYTES`` the reduction keeps its heap.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels.bits import leading_zeros, trailing_zeros
from gpu_tda.kernels.combinatorics import triangle_index
from gpu_tda.kernels.h0 import tie_group
from gpu_tda.kernels.loop_helper import loop_helper

MAX_BYTES = 2 << 20
"""Largest bitset table (bytes) a window's dimension-1 reduction may allocate."""

_ONE = np.uint64(1)


@nb.njit(cache=True, nogil=True)
def buckets_for(n: int, edge_d: np.ndarray, ends: np.ndarray) -> tuple:
    """``new_buckets`` when its rows stay within ``MAX_BYTES``, else ``no_buckets()``."""
    if edge_d.shape[0] * ((n + 63) >> 6) * 8 <= MAX_BYTES:
        return new_buckets(n, edge_d, ends)
    return no_buckets()


@nb.njit(cache=True, nogil=True)
def new_buckets(n: int, edge_d: np.ndarray, ends: np.ndarray) -> tuple:
    """An empty working column over the edges in filtration order: their diameters and
    vertices (``h0.sorted_edges``)."""
    m = edge_d.shape[0]
    rank = np.full((n, n), -1, dtype=np.int32)
    for r in range(m):
        rank[ends[r, 0], ends[r, 1]] = r
        rank[ends[r, 1], ends[r, 0]] = r
    rows = np.zeros((m + 1, (n + 63) >> 6), dtype=np.uint64)  # and a spare row
    occupied = np.zeros((m + 64) >> 6, dtype=np.uint64)
    cursor = np.zeros(1, dtype=np.int64)
    filed_row = np.empty(n, dtype=np.int32)  # scratch of add_coboundary
    filed_vertex = np.empty(n, dtype=np.int32)
    return rank, ends, edge_d, rows, occupied, cursor, filed_row, filed_vertex


@nb.njit(cache=True, nogil=True)
def no_buckets() -> tuple:
    """The placeholder passed to a reduction that keeps its heap."""
    return new_buckets(np.int64(0), np.empty(0, dtype=np.float32), np.empty((0, 2), dtype=np.int32))


@nb.njit(cache=True, nogil=True, inline="always")
def in_use(buckets: tuple) -> bool:
    """Whether ``buckets`` is a working column (not the ``no_buckets`` placeholder)."""
    return buckets[0].shape[0] > 0


@loop_helper
def add_coboundary(
    buckets: tuple, dist: np.ndarray, threshold: np.float32, diam: np.float32, x: int, y: int
) -> None:
    """Add the coboundary of edge (x, y) of diameter ``diam``: its triangles within the
    threshold."""
    rank, _, _, rows, occupied, _, filed_row, filed_vertex = buckets
    n = dist.shape[0]
    beyond = np.int32(rows.shape[0] - 1)  # the spare row takes what is not a triangle
    x32 = np.int32(x)
    y32 = np.int32(y)
    dist_x = dist[x]
    dist_y = dist[y]
    rank_x = rank[x]
    rank_y = rank[y]
    own = rank_x[y]
    # first where each cofacet is filed, with selects only, so that the loop vectorises (which
    # edge is longest and whether the triangle is within the threshold are coin flips that
    # branches would mispredict); then the toggles
    for v in range(n):
        a = dist_x[v]
        b = dist_y[v]
        ra = rank_x[v]
        rb = rank_y[v]
        cd = max(diam, max(a, b))
        r = own if diam == cd else np.int32(-1)
        z = np.int32(v)
        cofacet = (z != x32) & (z != y32)  # z is still v here
        by_a = (a == cd) & (ra > r)
        r = ra if by_a else r
        z = y32 if by_a else z
        by_b = (b == cd) & (rb > r)
        r = rb if by_b else r
        z = x32 if by_b else z
        filed_row[v] = r if cofacet & (cd <= threshold) else beyond
        filed_vertex[v] = z
    for v in range(n):
        r = filed_row[v]
        z = filed_vertex[v]
        rows[r, z >> 6] ^= _ONE << np.uint64(z & 63)
        occupied[r >> 6] |= _ONE << np.uint64(r & 63)


@loop_helper
def pivot(buckets: tuple, binom: np.ndarray, verts: np.ndarray) -> tuple[np.float32, np.int64]:
    """The column's pivot (diameter, triangle index), or (0, -1) when it is zero; its three
    vertices, largest first, go to ``verts`` (the caller then need not decode the index)."""
    _, ends, edge_d, rows, occupied, cursor, _, _ = buckets
    m = edge_d.shape[0]
    c = cursor[0]
    w = c >> 6
    word = occupied[w] & (~np.uint64(0) << np.uint64(c & 63))
    while True:  # the first row marked and really non-empty
        while word == 0:
            w += 1
            if w == occupied.shape[0]:
                return np.float32(0.0), np.int64(-1)
            word = occupied[w]
        r = w * 64 + int(trailing_zeros(word))
        if r >= m:
            return np.float32(0.0), np.int64(-1)
        if _top_vertex(rows, r) != -1:
            break
        occupied[w] &= ~(_ONE << np.uint64(r & 63))
        word &= word - _ONE
    start, end = tie_group(edge_d, r)
    cursor[0] = start
    best = np.int64(-1)
    for s in range(r, end):
        z = _top_vertex(rows, s)
        if z != -1:
            t = triangle_index(binom, ends[s, 0], ends[s, 1], z)
            if t > best:
                best = t
                _triangle_vertices(ends[s, 0], ends[s, 1], z, verts)
    return edge_d[r], best


@loop_helper
def _triangle_vertices(x: int, y: int, z: int, verts: np.ndarray) -> None:
    """Triangle {x, y, z} (x > y) into verts[0..2], largest first."""
    if z > x:
        verts[0], verts[1], verts[2] = z, x, y
    elif z > y:
        verts[0], verts[1], verts[2] = x, z, y
    else:
        verts[0], verts[1], verts[2] = x, y, z


@loop_helper
def _top_vertex(rows, r):
    """The largest vertex in row r, or -1 when the row is empty."""
    for k in range(rows.shape[1] - 1, -1, -1):
        if rows[r, k] != 0:
            return k * 64 + 63 - int(leading_zeros(rows[r, k]))
    return -1


@loop_helper
def clear(buckets: tuple) -> None:
    """Empty the column for the next one (only rows marked in ``occupied`` can hold bits)."""
    _, _, _, rows, occupied, cursor, _, _ = buckets
    for w in range(occupied.shape[0]):
        word = occupied[w]
        while word != 0:
            r = w * 64 + int(trailing_zeros(word))
            rows[r, :] = 0
            word &= word - _ONE
        occupied[w] = 0
    cursor[0] = 0
