"""Persistent cohomology of the Rips filtration in dimensions >= 1 (the ideas behind Ripser).

Per dimension: the columns are the dim-simplices less those cleared because they were pivots
one dimension lower. Each column's unreduced pivot is found by a scan, no heap; columns in
apparent pairs (persistence pairs known without reduction, nearly all of them) are set aside
at once, and only the rest are sorted and reduced in reverse filtration order.

The reduction stores only V (which columns were added) and regenerates coboundaries from the
distance matrix. A column's coboundary heap is built only when another column must be added
to it, and then lazily: it holds the cofacets up to a diameter bound, raised when they all
cancel, so long cofacets beyond the final pivot are never pushed. In dimension 1, for windows
of up to a few hundred points, the working coboundary is instead one bitset per edge
(``edge_buckets``): each cofacet costs one bit flip, and cancels at once.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels import edge_buckets as eb
from gpu_tda.kernels import pivot_index as pmap
from gpu_tda.kernels import working_column as wc
from gpu_tda.kernels.coboundary import (
    apparent_partner,
    cofacet_index,
    is_apparent,
    next_cofacet_diameter,
    pivot_vertex,
    push_cofacets,
)
from gpu_tda.kernels.combinatorics import simplex_vertices


@nb.njit(cache=True, nogil=True)
def classify_all(dist, sorted_dist, order, binom, dim, threshold, col_d, col_i):
    """(pivot diameters, pivot indices, apparent flags) of every column: its unreduced pivot
    (diameter, index) and whether it is in an apparent pair."""
    ncols = col_d.shape[0]
    pivot_d = np.empty(ncols, np.float32)
    pivot_i = np.empty(ncols, np.int64)
    apparent = np.empty(ncols, np.bool_)
    n = dist.shape[0]
    verts = np.empty(dim + 1, dtype=np.int64)
    scratch = np.empty(dim + 2, dtype=np.int64)
    for c in range(ncols):
        simplex_vertices(col_i[c], dim, n, binom, verts)
        pd, v = pivot_vertex(dist, sorted_dist, order, dim, threshold, col_d[c], verts)
        pivot_d[c] = pd
        pivot_i[c] = -1 if v == -1 else cofacet_index(binom, dim, col_i[c], verts, v)
        apparent[c] = v != -1 and pd == col_d[c] and is_apparent(dist, dim, pd, verts, v, scratch)
    return pivot_d, pivot_i, apparent


@nb.njit(cache=True, nogil=True)
def set_aside_apparent(col_d, col_i, pivot_d, pivot_i, apparent, keys, values, record):
    """Drop apparent-pair columns, keeping the rest in order with their pivots.

    With ``record``, each apparent pivot goes into the pivot map (as ``pmap.APPARENT``) so that
    it is cleared from the next dimension's columns.
    """
    kept = 0
    for c in range(col_d.shape[0]):
        if apparent[c]:
            if record:
                pmap.insert(keys, values, pivot_i[c], pmap.APPARENT)
            continue
        col_d[kept] = col_d[c]
        col_i[kept] = col_i[c]
        pivot_d[kept] = pivot_d[c]
        pivot_i[kept] = pivot_i[c]
        kept += 1
    return col_d[:kept].copy(), col_i[:kept].copy(), pivot_d[:kept].copy(), pivot_i[:kept].copy()


@nb.njit(cache=True, nogil=True)
def _peek_pivot(packed, keys, heap_d, heap_i, size):
    """The working coboundary's pivot after cancellation, left in the heap: (size, d, i)."""
    if packed:
        size, key, found = wc.pop_pivot_key(keys, size)
        if not found:
            return size, np.float32(0.0), np.int64(-1)
        d, i = wc.unpack(key)
        return wc.push_key(keys, size, key), d, i
    size, d, i = wc.pop_pivot(heap_d, heap_i, size)
    if i != -1:
        size = wc.push(heap_d, heap_i, size, d, i)
    return size, d, i


@nb.njit(cache=True, nogil=True)
def reduce_coboundary(
    dist: np.ndarray,
    sorted_dist: np.ndarray,
    order: np.ndarray,
    binom: np.ndarray,
    dim: int,
    threshold: np.float32,
    col_d: np.ndarray,
    col_i: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    pivot_d: np.ndarray,
    pivot_i: np.ndarray,
    buckets: tuple,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce the dim-simplex columns (reverse filtration order); return (births, deaths).

    ``pivot_d``/``pivot_i`` hold each column's unreduced pivot (from ``scan_pivots``). Columns
    of apparent pairs were left out; a pivot owned by one is recognised on the fly (or found in
    the map as ``pmap.APPARENT``) and the partner's coboundary added.

    Records each pivot in the (keys, values) map, which the caller uses to clear the next
    dimension's columns. Essential classes get death = inf.

    ``buckets``: for dim 1, an ``edge_buckets`` column over the window's sorted edges, which
    then replaces the heap; else ``edge_buckets.no_buckets()``.
    """
    ncols = col_d.shape[0]
    n = dist.shape[0]
    bucketed = eb.in_use(buckets)
    verts = np.empty(dim + 2, dtype=np.int64)
    scratch = np.empty(dim + 2, dtype=np.int64)
    pivot_verts = np.empty(dim + 2, dtype=np.int64)  # the pivot's, when ``pivot_known``
    # the working coboundary: packed keys when every cofacet index fits in 32 bits
    packed = binom[dim + 2, n] <= np.int64(0xFFFFFFFF)
    cob_keys = np.empty(256 if packed else 0, dtype=np.uint64)
    cob_d = np.empty(0 if packed else 256, dtype=np.float32)
    cob_i = np.empty(0 if packed else 256, dtype=np.int64)
    gen_d = np.empty(64, dtype=np.float32)  # simplices whose coboundaries the column sums
    gen_i = np.empty(64, dtype=np.int64)
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
        red_size = wc.push(red_heap_d, red_heap_i, np.int64(0), sd, si)
        pd = pivot_d[c]
        pi = pivot_i[c]
        pivot_known = False
        n_gen = 0  # 0: the column's working coboundary is not built yet
        bound = sd  # the heap holds every cofacet of diameter <= bound
        cob_size = np.int64(0)
        while True:
            if pi == -1:
                death = np.float32(np.inf)
            else:
                owner = pmap.lookup(keys, values, pi)
                partner = np.int64(-1)
                if owner < 0:  # unclaimed, or claimed by an apparent pair?
                    if not pivot_known:
                        simplex_vertices(pi, dim + 1, n, binom, pivot_verts)
                    # scratch: the partner's vertices, for the addition below
                    partner = apparent_partner(
                        dist, sorted_dist, order, binom, dim, pd, pi, pivot_verts, scratch
                    )
                    owner = pmap.APPARENT if partner != -1 else np.int64(-1)
                if owner != -1:
                    if n_gen == 0:
                        bound = pd
                        gen_d[0] = sd
                        gen_i[0] = si
                        n_gen = 1
                        simplex_vertices(si, dim, n, binom, verts)
                        cob_keys, cob_d, cob_i, cob_size = _add_coboundary(
                            dist, binom, dim, threshold, bound, sd, si, verts, packed, buckets,
                            cob_keys, cob_d, cob_i, cob_size,
                        )  # fmt: skip
                    # add column `owner`: its simplex and its stored reduction entries; an
                    # apparent pair's column is just its facet of the pivot (never stored)
                    if owner == pmap.APPARENT:
                        lo = hi = 0
                        first_d = pd
                        first_i = partner
                    else:
                        lo = red_start[owner]
                        hi = red_start[owner + 1]
                        first_d = col_d[owner]
                        first_i = col_i[owner]
                    while red_size + 1 + hi - lo > red_heap_d.shape[0]:
                        red_heap_d, red_heap_i = wc.grow(red_heap_d, red_heap_i)
                    while n_gen + 1 + hi - lo > gen_d.shape[0]:
                        gen_d, gen_i = wc.grow(gen_d, gen_i)
                    for e in range(lo - 1, hi):
                        if e < lo:
                            ed = first_d
                            ei = first_i
                        else:
                            ed = red_d[e]
                            ei = red_i[e]
                        red_size = wc.push(red_heap_d, red_heap_i, red_size, ed, ei)
                        gen_d[n_gen] = ed
                        gen_i[n_gen] = ei
                        n_gen += 1
                        if e < lo and owner == pmap.APPARENT:
                            verts[: dim + 1] = scratch[: dim + 1]
                        else:
                            simplex_vertices(ei, dim, n, binom, verts)
                        cob_keys, cob_d, cob_i, cob_size = _add_coboundary(
                            dist, binom, dim, threshold, bound, ed, ei, verts, packed, buckets,
                            cob_keys, cob_d, cob_i, cob_size,
                        )  # fmt: skip
                    pivot_known = bucketed
                    if bucketed:
                        pd, pi = eb.pivot(buckets, binom, pivot_verts)
                    else:
                        cob_keys, cob_d, cob_i, cob_size, bound, pd, pi = _heap_pivot(
                            dist, binom, dim, threshold, sd, bound, gen_d, gen_i, n_gen, packed,
                            cob_keys, cob_d, cob_i, cob_size,
                        )  # fmt: skip
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
        if bucketed and n_gen > 0:
            eb.clear(buckets)
        red_start[c + 1] = red_len
    return births[:n_bars].copy(), deaths[:n_bars].copy()


@nb.njit(cache=True, nogil=True)
def _add_coboundary(
    dist, binom, dim, threshold, bound, diam, index, verts, packed, buckets, keys, heap_d, heap_i,
    size,
):  # fmt: skip
    """Add the coboundary of simplex (diam, index), vertices ``verts``, to the working column:
    all of it to the buckets, or its cofacets up to ``bound`` to the heap."""
    if eb.in_use(buckets):
        eb.add_coboundary(buckets, dist, threshold, diam, verts[0], verts[1])
        return keys, heap_d, heap_i, size
    below_all = np.float32(-1.0)
    return push_cofacets(
        dist, binom, dim, below_all, bound, diam, index, verts, packed, keys, heap_d, heap_i, size
    )


@nb.njit(cache=True, nogil=True)
def _heap_pivot(
    dist, binom, dim, threshold, sd, bound, gen_d, gen_i, n_gen, packed, keys, heap_d, heap_i, size
):
    """The heap column's pivot, widening the diameter range it holds while everything in it
    cancels: (keys, heap_d, heap_i, size, bound, pivot diameter, pivot index or -1)."""
    n = dist.shape[0]
    verts = np.empty(dim + 1, dtype=np.int64)
    while True:
        size, pd, pi = _peek_pivot(packed, keys, heap_d, heap_i, size)
        if pi != -1:
            break
        # all cofacets up to `bound` cancelled: bring in the next range, as far again from
        # the column's diameter (an empty range just doubles it next time); with no such
        # range, up to the next cofacet diameter
        if bound >= threshold:
            break
        new_bound = bound + (bound - sd)
        if new_bound <= bound:
            new_bound = np.float32(np.inf)
            for g in range(n_gen):
                simplex_vertices(gen_i[g], dim, n, binom, verts)
                x = next_cofacet_diameter(dist, dim, bound, gen_d[g], verts)
                if x < new_bound:
                    new_bound = x
            if new_bound > threshold:
                break
        if new_bound > threshold:
            new_bound = threshold
        for g in range(n_gen):
            simplex_vertices(gen_i[g], dim, n, binom, verts)
            keys, heap_d, heap_i, size = push_cofacets(
                dist,
                binom,
                dim,
                bound,
                new_bound,
                gen_d[g],
                gen_i[g],
                verts,
                packed,
                keys,
                heap_d,
                heap_i,
                size,
            )
        bound = new_bound
    return keys, heap_d, heap_i, size, bound, pd, pi
