"""Assembling the next dimension's columns: every (dim+1)-simplex within the threshold.

Each (dim+1)-simplex is met once, as a *candidate* of its facet without its largest vertex
(that facet plus a larger vertex v). Candidates are numbered facet by facet, v falling, and
classified independently: over the threshold, cleared (a pivot one dimension lower), in an
apparent pair (then its pivot vertex is kept), or a column to reduce. A sequential pass then
gathers columns, the apparent pairs' pivots (for clearing the dimension after) and, when
wanted, every simplex (for the next assembly).
"""

import numba as nb
import numpy as np

from gpu_tda.kernels import pivot_index as pmap
from gpu_tda.kernels import working_column as wc
from gpu_tda.kernels.coboundary import cofacet_index, is_apparent, pivot_vertex
from gpu_tda.kernels.combinatorics import simplex_vertices

_OVER = np.int32(-1)  # longer than the threshold: not in the complex
_CLEARED = np.int32(-2)  # a pivot one dimension lower
_COLUMN = np.int32(-3)  # to be reduced
# any code >= 0: in an apparent pair whose pivot adds that vertex


@nb.njit(cache=True, nogil=True)
def _candidate_offsets(simp_i, dim, n, binom):
    """offsets[s] = number of candidates of facets before s (offsets[-1]: all of them)."""
    verts = np.empty(dim + 1, dtype=np.int64)
    offsets = np.zeros(simp_i.shape[0] + 1, dtype=np.int64)
    for s in range(simp_i.shape[0]):
        simplex_vertices(simp_i[s], dim, n, binom, verts)
        offsets[s + 1] = offsets[s] + (n - 1 - verts[0])
    return offsets


@nb.njit(cache=True, nogil=True)
def _classify_candidates(
    dist,
    sorted_dist,
    order,
    binom,
    dim,
    threshold,
    simp_d,
    simp_i,
    keys,
    values,
    offsets,
    diams,
    codes,
):
    """Diameter and code of every candidate."""
    n = dist.shape[0]
    verts = np.empty(dim + 1, dtype=np.int64)
    cofacet_verts = np.empty(dim + 2, dtype=np.int64)
    scratch = np.empty(dim + 3, dtype=np.int64)
    for s in range(simp_i.shape[0]):
        sd = simp_d[s]
        si = simp_i[s]
        simplex_vertices(si, dim, n, binom, verts)
        pos = offsets[s]
        for v in range(n - 1, verts[0], -1):
            cd = sd
            for t in range(dim + 1):
                x = dist[verts[t], v]
                if x > cd:
                    cd = x
            diams[pos] = cd
            if cd > threshold:
                codes[pos] = _OVER
            elif pmap.lookup(keys, values, binom[dim + 2, v] + si) != -1:
                codes[pos] = _CLEARED
            else:
                cofacet_verts[0] = v
                for t in range(dim + 1):
                    cofacet_verts[t + 1] = verts[t]
                pd, w = pivot_vertex(
                    dist, sorted_dist, order, dim + 1, threshold, cd, cofacet_verts
                )
                if (
                    w != -1
                    and pd == cd
                    and is_apparent(dist, dim + 1, cd, cofacet_verts, w, scratch)
                ):
                    codes[pos] = w
                else:
                    codes[pos] = _COLUMN
            pos += 1


@nb.njit(cache=True, nogil=True)
def assemble_columns(
    dist: np.ndarray,
    sorted_dist: np.ndarray,
    order: np.ndarray,
    binom: np.ndarray,
    dim: int,
    threshold: np.float32,
    simp_d: np.ndarray,
    simp_i: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    keep_simplices: bool,
    record_apparent: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From all dim-simplices (and the dim pivots in keys/values), the (dim+1)-columns.

    Returns (the columns to reduce, unsorted; when ``keep_simplices``, every (dim+1)-simplex
    within the threshold; the new pivot map, holding the apparent pairs' pivots when
    ``record_apparent``).
    """
    n = dist.shape[0]
    offsets = _candidate_offsets(simp_i, dim, n, binom)
    total = offsets[simp_i.shape[0]]
    diams = np.empty(total, dtype=np.float32)
    codes = np.empty(total, dtype=np.int32)
    args = (dist, sorted_dist, order, binom, dim, threshold, simp_d, simp_i, keys, values, offsets)
    _classify_candidates(*args, diams, codes)
    verts = np.empty(dim + 1, dtype=np.int64)
    cofacet_verts = np.empty(dim + 2, dtype=np.int64)
    col_d = np.empty(16, dtype=np.float32)
    col_i = np.empty(16, dtype=np.int64)
    n_cols = 0
    next_d = np.empty(16, dtype=np.float32)
    next_i = np.empty(16, dtype=np.int64)
    n_next = 0
    new_keys, new_values = pmap.new_pivot_index(16)
    n_keys = 0
    for s in range(simp_i.shape[0]):
        si = simp_i[s]
        pos = offsets[s]
        top = n - 1 - (offsets[s + 1] - pos)  # the facet's largest vertex
        for v in range(n - 1, top, -1):
            code = codes[pos]
            cd = diams[pos]
            pos += 1
            if code == _OVER:
                continue
            cofacet = binom[dim + 2, v] + si
            if keep_simplices:
                if n_next == next_d.shape[0]:
                    next_d, next_i = wc.grow(next_d, next_i)
                next_d[n_next] = cd
                next_i[n_next] = cofacet
                n_next += 1
            if code == _COLUMN:
                if n_cols == col_d.shape[0]:
                    col_d, col_i = wc.grow(col_d, col_i)
                col_d[n_cols] = cd
                col_i[n_cols] = cofacet
                n_cols += 1
            elif code >= 0 and record_apparent:
                simplex_vertices(si, dim, n, binom, verts)
                cofacet_verts[0] = v
                for t in range(dim + 1):
                    cofacet_verts[t + 1] = verts[t]
                pivot = cofacet_index(binom, dim + 1, cofacet, cofacet_verts, code)
                new_keys, new_values, n_keys = pmap.insert_growing(
                    new_keys, new_values, n_keys, pivot, pmap.APPARENT
                )
    return (
        col_d[:n_cols].copy(),
        col_i[:n_cols].copy(),
        next_d[:n_next].copy(),
        next_i[:n_next].copy(),
        new_keys,
        new_values,
    )
