"""Cofacets and facets of one simplex, enumerated on the fly from the distance matrix.

A simplex is its index in the combinatorial number system plus its diameter; its vertices
(``verts``, largest first) are decoded by the caller. Cofacets add a vertex v and come largest
index first as v falls. In filtration order (diameter ascending, ties by index descending) a
column's pivot is its earliest cofacet.

Zero-persistence pairs: the *zero-pivot cofacet* of a simplex is its earliest cofacet of the
same diameter (it adds the largest vertex within the diameter of every vertex); the
*zero-pivot facet* of a simplex is its latest facet of the same diameter (dropping the
earliest-listed vertex that keeps the diameter). When each is the other's, the two form an
apparent pair: a persistence pair known without any reduction.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels import working_column as wc
from gpu_tda.kernels.loop_helper import loop_helper

_TOP_DOWN_TRIES = 16
"""Vertices tried from the top before a zero-pivot search measures its balls."""


@loop_helper
def _in_simplex(verts, dim, v):
    for t in range(dim + 1):
        if verts[t] == v:
            return True
    return False


@loop_helper
def _cofacet_diameter(dist, dim, diam, verts, v):
    cd = diam
    for t in range(dim + 1):
        x = dist[verts[t], v]
        if x > cd:
            cd = x
    return cd


@loop_helper
def cofacet_index(binom, dim, index, verts, v):
    """Index of the cofacet adding vertex v (not in the simplex) to simplex ``index``."""
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
def push_cofacets(dist, binom, dim, lo, hi, diam, index, verts, packed, keys, heap_d, heap_i, size):
    """Push the cofacets of the simplex whose diameter lies in (lo, hi] into a heap: the
    packed-key heap ``keys`` when ``packed``, else the (heap_d, heap_i) pair."""
    n = dist.shape[0]
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
        cd = _cofacet_diameter(dist, dim, diam, verts, v)
        if cd <= lo or cd > hi:
            continue
        cofacet = idx_above + binom[k + 1, v] + idx_below
        if packed:
            if size == keys.shape[0]:
                keys = wc.grow_keys(keys)
            size = wc.push_key(keys, size, wc.pack(cd, cofacet))
        else:
            if size == heap_d.shape[0]:
                heap_d, heap_i = wc.grow(heap_d, heap_i)
            size = wc.push(heap_d, heap_i, size, cd, cofacet)
    return keys, heap_d, heap_i, size


@loop_helper
def next_cofacet_diameter(dist, dim, above, diam, verts):
    """The smallest cofacet diameter of the simplex that is larger than ``above``."""
    best = np.float32(np.inf)
    for v in range(dist.shape[0]):
        if _in_simplex(verts, dim, v):
            continue
        cd = _cofacet_diameter(dist, dim, diam, verts, v)
        if above < cd < best:
            best = cd
    return best


@loop_helper
def zero_pivot_vertex(dist, sorted_dist, order, dim, diam, verts):
    """The vertex whose addition gives the zero-pivot cofacet, or -1.

    It is the largest vertex within ``diam`` of every vertex of the simplex: tried first among
    the top few vertices, then searched in the smallest ball around one of the simplex's
    vertices (row u of ``order`` lists u's neighbours nearest first, row u of ``sorted_dist``
    their distances) or, when every ball is big, further down from the top.
    """
    n = dist.shape[0]
    # large simplices: most vertices qualify, and the first few from the top find one
    top = n - 1
    while top >= 0 and top >= n - _TOP_DOWN_TRIES:
        if not _in_simplex(verts, dim, top):
            if _cofacet_diameter(dist, dim, diam, verts, top) <= diam:
                return top
        top -= 1
    centre = verts[0]
    ball = n
    for t in range(dim + 1):
        radii = sorted_dist[verts[t]]
        lo = 0
        hi = n
        while lo < hi:  # number of neighbours within diam
            mid = (lo + hi) >> 1
            if radii[mid] <= diam:
                lo = mid + 1
            else:
                hi = mid
        if lo < ball:
            ball = lo
            centre = verts[t]
    best_v = -1
    if 4 * ball < top:
        nbrs = order[centre]
        for p in range(ball):
            v = nbrs[p]
            if top >= v > best_v and not _in_simplex(verts, dim, v):
                if _cofacet_diameter(dist, dim, diam, verts, v) <= diam:
                    best_v = v
    else:
        for v in range(top, -1, -1):
            if not _in_simplex(verts, dim, v):
                if _cofacet_diameter(dist, dim, diam, verts, v) <= diam:
                    return v
    return best_v


@loop_helper
def pivot_vertex(dist, sorted_dist, order, dim, threshold, diam, verts):
    """The unreduced coboundary's pivot as (diameter, added vertex or -1), with no heap.

    The zero-pivot cofacet when there is one (no cofacet can be earlier), else one scan for
    the smallest diameter, ties to the largest vertex.
    """
    v = zero_pivot_vertex(dist, sorted_dist, order, dim, diam, verts)
    if v != -1:
        return diam, v
    return earliest_cofacet(dist, sorted_dist, order, dim, threshold, diam, verts)


@loop_helper
def earliest_cofacet(dist, sorted_dist, order, dim, threshold, diam, verts):
    """(diameter, added vertex or -1) of the earliest cofacet within the threshold: smallest
    diameter, ties to the largest vertex.

    Candidates come nearest first from the first vertex's neighbour list; a cofacet is at least
    as long as that distance, so the scan stops once the distance passes the best diameter.
    """
    u = verts[0]
    radii = sorted_dist[u]
    nbrs = order[u]
    best_d = np.float32(np.inf)
    best_v = -1
    for p in range(dist.shape[0]):
        r = radii[p]
        if r > best_d or r > threshold:
            break
        v = nbrs[p]
        if _in_simplex(verts, dim, v):
            continue
        cd = _cofacet_diameter(dist, dim, diam, verts, v)
        if cd <= threshold and (cd < best_d or (cd == best_d and v > best_v)):
            best_d = cd
            best_v = v
    return best_d, best_v


@loop_helper
def zero_pivot_drop(dist, dim, diam, verts):
    """Position in ``verts`` whose removal gives the zero-pivot facet, or -1.

    Facets dropping earlier-listed (larger) vertices have smaller indices, hence come later in
    filtration order; a facet keeps the diameter when some edge avoiding the dropped vertex
    has that length.
    """
    for drop in range(dim + 1):
        for a in range(dim + 1):
            if a == drop:
                continue
            row = dist[verts[a]]
            for b in range(a + 1, dim + 1):
                if b != drop and row[verts[b]] == diam:
                    return drop
    return -1


@loop_helper
def with_vertex(verts, dim, v, out):
    """out = verts plus vertex v, still largest first (dim + 2 entries)."""
    k = 0
    placed = False
    for t in range(dim + 1):
        if not placed and v > verts[t]:
            out[k] = v
            k += 1
            placed = True
        out[k] = verts[t]
        k += 1
    if not placed:
        out[k] = v


@loop_helper
def is_apparent(dist, dim, diam, verts, v, scratch):
    """Whether the simplex (of diameter ``diam``) and its zero-pivot cofacet (adding v) form an
    apparent pair. When v comes first, dropping it is the cofacet's latest facet: no lookup."""
    if v > verts[0]:
        return True
    with_vertex(verts, dim, v, scratch)
    drop = zero_pivot_drop(dist, dim + 1, diam, scratch)
    return drop != -1 and scratch[drop] == v


@loop_helper
def apparent_partner(dist, sorted_dist, order, binom, dim, diam, index, verts, scratch):
    """For a (dim+1)-simplex with vertices ``verts``: the index of the dim-simplex it is paired
    with by an apparent pair, or -1. ``scratch`` receives the partner's vertices."""
    drop = zero_pivot_drop(dist, dim + 1, diam, verts)
    if drop == -1:
        return np.int64(-1)
    facet = np.int64(0)
    k = 0
    for t in range(dim + 2):
        if t == drop:
            continue
        scratch[k] = verts[t]
        facet += binom[dim + 1 - k, verts[t]]
        k += 1
    if zero_pivot_vertex(dist, sorted_dist, order, dim, diam, scratch) != verts[drop]:
        return np.int64(-1)
    return facet


@nb.njit(cache=True, nogil=True)
def neighbour_order(n: int, edge_d: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted_dist): row v lists v's neighbours within the threshold nearest first, and
    their distances, then distance +inf (vertex -1).

    Built from the window's edges in filtration order and their vertices (``h0.sorted_edges``),
    each appended to both its vertices' rows: no sort of its own. Ties come in filtration
    order; the searches that read the rows do not depend on it.
    """
    order = np.full((n, n), -1, dtype=np.int32)
    sorted_dist = np.full((n, n), np.inf, dtype=np.float32)
    filled = np.zeros(n, dtype=np.int64)
    for t in range(edge_d.shape[0]):
        x = ends[t, 0]
        y = ends[t, 1]
        d = edge_d[t]
        order[x, filled[x]] = y
        sorted_dist[x, filled[x]] = d
        filled[x] += 1
        order[y, filled[y]] = x
        sorted_dist[y, filled[y]] = d
        filled[y] += 1
    return order, sorted_dist
