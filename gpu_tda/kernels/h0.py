"""Dimension 0: connected components, by minimum spanning tree.

Every Rips vertex is born at 0; a component dies at the length of the MST edge that merges it.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels.bits import bits_float64, float64_bits
from gpu_tda.kernels.distances import squared_distances
from gpu_tda.kernels.filtration_order import sort_keys_by_upper_half
from gpu_tda.kernels.loop_helper import loop_helper
from gpu_tda.kernels.working_column import float32_bits


@nb.njit(cache=True, nogil=True)
def h0_prim(dist: np.ndarray, threshold: np.float32) -> tuple[np.ndarray, int]:
    """Dense O(n^2) Prim: (positive MST edge lengths, number of components).

    The fast path when only H0 is wanted: no edge list, no sort.
    """
    n = dist.shape[0]
    key = np.full(n, np.inf, dtype=np.float32)
    left = np.arange(n)  # vertices not yet in the forest: left[:remaining]
    remaining = n
    deaths = np.empty(n, dtype=np.float32)
    n_deaths = 0
    components = 0
    best_pos = 0
    best_key = np.float32(np.inf)
    while remaining > 0:
        best = left[best_pos]
        remaining -= 1
        left[best_pos] = left[remaining]
        if best_key == np.inf:
            components += 1
        elif best_key > 0:
            deaths[n_deaths] = best_key
            n_deaths += 1
        # one pass: relax the keys through `best` and find the next vertex to add
        row = dist[best]
        best_pos = -1
        best_key = np.float32(np.inf)
        for p in range(remaining):
            v = left[p]
            d = row[v]
            if d <= threshold and d < key[v]:
                key[v] = d
            if best_pos == -1 or key[v] < best_key:
                best_pos = p
                best_key = key[v]
    return deaths[:n_deaths].copy(), components


@nb.njit(cache=True, nogil=True)
def h0_prim_points(points: np.ndarray, threshold: np.float32) -> tuple[np.ndarray, int]:
    """h0_prim straight from (n, d) float64 points, without a distance matrix.

    Keys are squared float64 distances, summed as ``pairwise_distances`` sums them; rounding
    sqrt to float32 is monotone, so the tree is also minimal for the rounded lengths, and only
    its n - 1 edges are rounded (plus each candidate, when there is a finite threshold).

    Without a threshold and with at most three coordinates (zero rows pad them to three:
    adding 0.0 to a square is exact), one pass per added vertex computes the distances,
    relaxes the keys and finds their minimum (``_relax_through``): a third faster than a pass
    for each.
    """
    n, d = points.shape
    coords = np.zeros((max(d, 3), n), dtype=np.float64)  # columns [0, remaining): vertices left
    coords[:d] = points.T
    fused = threshold == np.inf and d <= 3
    key = np.full(n, np.inf, dtype=np.float64)  # key[p] belongs to column p
    added = np.empty(coords.shape[0], dtype=np.float64)
    sq = np.empty(n, dtype=np.float64)  # squared distances to the added vertex
    remaining = n
    deaths = np.empty(n, dtype=np.float32)
    n_deaths = 0
    components = 0
    best_pos = 0
    while remaining > 0:
        best_key = key[best_pos]
        if best_key == np.inf:
            components += 1
        else:
            length = np.float32(np.sqrt(best_key))
            if length > 0:
                deaths[n_deaths] = length
                n_deaths += 1
        remaining -= 1  # move the added vertex out: swap in the last column
        for k in range(coords.shape[0]):
            added[k] = coords[k, best_pos]
            coords[k, best_pos] = coords[k, remaining]
        key[best_pos] = key[remaining]
        if not remaining:
            break
        if fused:
            best = _relax_through(key, coords, added, remaining)
        else:
            squared_distances(coords, added, remaining, sq)
            best = _relax(key, sq, remaining, threshold)
        best_pos = _first_at(key, remaining, best)
    return deaths[:n_deaths].copy(), components


_INF_BITS = np.int64(0x7FF0000000000000)
"""``float64_bits(inf)``. Keys are squared lengths: never NaN, never negative, so the smallest key
is the one with the smallest bits. LLVM vectorises that integer minimum; the float one it does
not (numba sets no function-wide no-NaN attribute), and vectorised, Prim takes half the time."""


@nb.njit(cache=True, nogil=True, fastmath={"nnan", "nsz"})
def _relax_through(key: np.ndarray, coords: np.ndarray, added: np.ndarray, count: int) -> float:
    """key[p] = min(key[p], squared distance from ``added`` to column p) for the first
    ``count`` columns of the three rows of ``coords``; returns the smallest key. Summed in
    ``squared_distances``' order, no contraction: the same bits."""
    x, y, z = coords[0], coords[1], coords[2]
    ax, ay, az = added[0], added[1], added[2]
    best = _INF_BITS
    for p in range(count):
        dx = x[p] - ax
        dy = y[p] - ay
        dz = z[p] - az
        k = min(key[p], dx * dx + dy * dy + dz * dz)
        key[p] = k
        best = min(best, float64_bits(k))
    return bits_float64(best)


@nb.njit(cache=True, nogil=True)
def _relax(key: np.ndarray, sq: np.ndarray, count: int, threshold: np.float32) -> float:
    """key[p] = sq[p] where that is smaller (and, under a finite threshold, its float32 length
    is within it) for p < count; returns the smallest key."""
    if threshold < np.inf:
        for p in range(count):
            if sq[p] < key[p] and np.float32(np.sqrt(sq[p])) <= threshold:
                key[p] = sq[p]
        return _smallest(key, count)
    return _relax_min(key, sq, count)


@nb.njit(cache=True, nogil=True, fastmath={"nnan", "nsz"})
def _relax_min(key: np.ndarray, sq: np.ndarray, count: int) -> float:
    best = _INF_BITS
    for p in range(count):
        k = min(key[p], sq[p])
        key[p] = k
        best = min(best, float64_bits(k))
    return bits_float64(best)


@nb.njit(cache=True, nogil=True)
def _smallest(keys: np.ndarray, count: int) -> float:
    """min(keys[:count])."""
    best = _INF_BITS
    for p in range(count):
        best = min(best, float64_bits(keys[p]))
    return bits_float64(best)


@nb.njit(cache=True, nogil=True)
def _first_at(values: np.ndarray, count: int, value: float) -> int:
    """The first position of ``value`` in values[:count]."""
    for p in range(count):
        if values[p] == value:
            return p
    return 0


MAX_VERTICES = 1 << 16
"""Most points a window may have in ``sorted_edges`` (its pair keys hold 16-bit vertices)."""

_LOW32 = np.uint64(0xFFFFFFFF)


@nb.njit(cache=True, nogil=True)
def sorted_edges(
    dist: np.ndarray, threshold: np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All edges of length <= threshold in filtration order: (diameters, indices, ends).

    ``ends[t]`` holds edge t's two vertices, larger first (int32), decoded here once for all the
    passes that follow. Each edge is one key: its length's float32 bits over its vertex pair
    (i, j). The keys are made in decreasing index order, which is the order of ties, and sorted
    stably by length alone: the same order as sorting whole keys, in half the passes.
    """
    n = dist.shape[0]
    if n > MAX_VERTICES:
        raise ValueError("sorted_edges: a window may have at most 65,536 points")
    count = 0
    for i in range(n):
        for j in range(i):
            if dist[i, j] <= threshold:
                count += 1
    keys = np.empty(count, dtype=np.uint64)
    t = 0
    for i in range(n - 1, -1, -1):
        row = dist[i]
        for j in range(i - 1, -1, -1):
            d = row[j]
            if d <= threshold:
                pair = np.uint64((i << 16) | j) ^ _LOW32  # complemented: decode_edge_keys' form
                keys[t] = (np.uint64(float32_bits(d)) << np.uint64(32)) | pair
                t += 1
    sort_keys_by_upper_half(keys)
    return decode_edge_keys(keys)


@nb.njit(cache=True, nogil=True)
def decode_edge_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge keys in filtration order (``sorted_edges``' form; the GPU's ``sorted_edge_keys``
    makes the same) -> (diameters, indices, ends) as ``sorted_edges`` returns them."""
    count = keys.shape[0]
    diams = np.empty(count, dtype=np.float32)
    bits = diams.view(np.uint32)
    indices = np.empty(count, dtype=np.int64)
    ends = np.empty((count, 2), dtype=np.int32)
    for t in range(count):
        key = keys[t]
        bits[t] = np.uint32(key >> np.uint64(32))
        pair = (key & _LOW32) ^ _LOW32
        i = np.int64(pair >> np.uint64(16))
        j = np.int64(pair & np.uint64(0xFFFF))
        indices[t] = i * (i - 1) // 2 + j
        ends[t, 0] = i
        ends[t, 1] = j
    return diams, indices, ends


@loop_helper
def tie_group(edge_d: np.ndarray, t: int) -> tuple[int, int]:
    """[start, end): the sorted edges of edge t's length (ties are contiguous in that order)."""
    start = t
    while start > 0 and edge_d[start - 1] == edge_d[t]:
        start -= 1
    end = t + 1
    while end < edge_d.shape[0] and edge_d[end] == edge_d[t]:
        end += 1
    return start, end


@nb.njit(cache=True, nogil=True, inline="always")
def edge_vertices(index: np.int64) -> tuple[int, int]:
    """(i, j) with i > j for edge index C(i, 2) + j."""
    i = int((1.0 + np.sqrt(1.0 + 8.0 * index)) / 2.0)
    while np.int64(i) * (i - 1) // 2 > index:
        i -= 1
    while np.int64(i + 1) * i // 2 <= index:
        i += 1
    return i, int(index - np.int64(i) * (i - 1) // 2)


@loop_helper
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
    n: int, edge_diams: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, int, np.ndarray]:
    """Union-find over edges in filtration order (``ends``: their vertices, from
    ``sorted_edges``).

    Returns (positive MST edge lengths, number of components, and the positions of the non-tree
    edges in reverse filtration order: the dimension-1 columns left after clearing).
    """
    parent = np.arange(n)
    rank = np.zeros(n, dtype=np.int32)
    m = edge_diams.shape[0]
    deaths = np.empty(n, dtype=np.float32)
    n_deaths = 0
    cycle = np.empty(m, dtype=np.int64)  # filled from the back: reverse filtration order
    n_cycle = 0
    components = n
    for t in range(m):
        if components == 1:  # one tree already: every later edge closes a cycle, no finds
            for rest in range(t, m):
                n_cycle += 1
                cycle[m - n_cycle] = rest
            break
        ri = _find(parent, ends[t, 0])
        rj = _find(parent, ends[t, 1])
        if ri == rj:
            n_cycle += 1
            cycle[m - n_cycle] = t
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
    return deaths[:n_deaths].copy(), components, cycle[m - n_cycle :]
