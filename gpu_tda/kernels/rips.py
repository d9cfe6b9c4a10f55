"""Whole-window Vietoris-Rips persistence: distances -> H0 -> H1..Hmaxdim, as flat bar arrays.

Bars come out as three parallel arrays (dims, births, deaths); essential bars have death = inf
and zero-length bars are dropped, as in ripser.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels.assembly import assemble_columns
from gpu_tda.kernels.coboundary import neighbour_order, neighbour_order_parallel
from gpu_tda.kernels.cohomology import (
    classify_all,
    reduce_coboundary,
    set_aside_apparent,
)
from gpu_tda.kernels.combinatorics import binomial_table
from gpu_tda.kernels.distances import enclosing_radius, pairwise_distances
from gpu_tda.kernels.edge_sweep import classify_edges, triangle_columns
from gpu_tda.kernels.filtration_order import sort_simplices
from gpu_tda.kernels.h0 import h0_kruskal, h0_prim, h0_prim_points, sorted_edges
from gpu_tda.kernels.pivot_index import new_pivot_index, with_room


@nb.njit(cache=True, nogil=True)
def rips_from_distances(
    dist: np.ndarray, maxdim: int, threshold: np.float32, parallel: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, n) float32 distances -> (dims int64, births float32, deaths float32).

    ``parallel`` spreads the independent steps (neighbour sorting, the triangle sweep, the
    assembly of higher columns) over numba's threads: for one large window. Callers must not
    launch parallel kernels concurrently.
    """
    n = dist.shape[0]
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.float32)
    if maxdim == 0:
        return _h0_bars(*h0_prim(dist, threshold))
    threshold = min(threshold, enclosing_radius(dist))
    edge_d, edge_i = sorted_edges(dist, threshold)
    h0_deaths, components, col_pos = h0_kruskal(n, edge_d, edge_i)
    dims, births, deaths = _h0_bars(h0_deaths, components)
    binom = binomial_table(n, maxdim + 2)
    if parallel:
        order, sorted_dist = neighbour_order_parallel(dist)
    else:
        order, sorted_dist = neighbour_order(dist)
    simp_d = edge_d
    simp_i = edge_i
    # dimension 1: the edges left by the union-find, in reverse filtration order
    col_d = edge_d[col_pos]
    col_i = edge_i[col_pos]
    keys, values = new_pivot_index(col_d.shape[0])
    pivot_d, pivot_i, apparent = classify_edges(
        dist, sorted_dist, order, binom, threshold, edge_d, edge_i, col_pos
    )
    col_d, col_i, pivot_d, pivot_i = set_aside_apparent(
        col_d, col_i, pivot_d, pivot_i, apparent, keys, values, maxdim > 1
    )
    for dim in range(1, maxdim + 1):
        if dim == 2:  # assembled columns: apparent pairs already set aside, sort the rest
            col_d, col_i, simp_d, simp_i, keys, values = triangle_columns(
                dist, binom, simp_d, simp_i, keys, values, maxdim > 2, maxdim > 2, parallel
            )
        elif dim > 2:
            col_d, col_i, simp_d, simp_i, keys, values = assemble_columns(
                dist,
                sorted_dist,
                order,
                binom,
                dim - 1,
                threshold,
                simp_d,
                simp_i,
                keys,
                values,
                dim < maxdim,
                dim < maxdim,
                parallel,
            )
        if dim > 1:
            col_d, col_i = sort_simplices(col_d, col_i, True)
            keys, values = with_room(keys, values, col_d.shape[0])
            pivot_d, pivot_i, _ = classify_all(
                dist, sorted_dist, order, binom, dim, threshold, col_d, col_i
            )
        b, d = reduce_coboundary(
            dist,
            sorted_dist,
            order,
            binom,
            dim,
            threshold,
            col_d,
            col_i,
            keys,
            values,
            pivot_d,
            pivot_i,
        )
        dims = np.concatenate((dims, np.full(b.shape[0], dim, np.int64)))
        births = np.concatenate((births, b))
        deaths = np.concatenate((deaths, d))
    return dims, births, deaths


@nb.njit(cache=True, nogil=True)
def _h0_bars(h0_deaths, components):
    """H0 as flat bars: (0, death) per merge, (0, inf) per component."""
    total = h0_deaths.shape[0] + components
    deaths = np.empty(total, np.float32)
    deaths[: h0_deaths.shape[0]] = h0_deaths
    deaths[h0_deaths.shape[0] :] = np.inf
    return np.zeros(total, np.int64), np.zeros(total, np.float32), deaths


@nb.njit(cache=True, nogil=True)
def rips_of_windows(
    data: np.ndarray,
    offsets: np.ndarray,
    widths: np.ndarray,
    is_distance: bool,
    maxdim: int,
    threshold: np.float32,
    parallel: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Persistence of many windows packed in one flat float64 array, one after another.

    Window w occupies data[offsets[w]:offsets[w+1]] as a row-major (n_w, widths[w]) array:
    points of dimension widths[w], or an (n_w, n_w) distance matrix when ``is_distance``.
    Returns (counts, births, deaths): counts[w, dim] bars per window and dimension, the bars
    grouped by window then dimension, each group sorted by (death, birth).
    """
    if maxdim == 0:
        return h0_of_windows(data, offsets, widths, is_distance, threshold)
    n_windows = offsets.shape[0] - 1
    counts = np.zeros((n_windows, maxdim + 1), np.int64)
    capacity = 64
    all_births = np.empty(capacity, np.float32)
    all_deaths = np.empty(capacity, np.float32)
    used = 0
    for w in range(n_windows):
        flat = data[offsets[w] : offsets[w + 1]]
        width = widths[w]
        rows = flat.shape[0] // width if width > 0 else 0
        block = flat.reshape((rows, width))
        dist = block.astype(np.float32) if is_distance else pairwise_distances(block)
        dims, births, deaths = rips_from_distances(dist, maxdim, threshold, parallel)
        k = dims.shape[0]
        if used + k > capacity:
            while used + k > capacity:
                capacity *= 2
            all_births = _resized(all_births, capacity)
            all_deaths = _resized(all_deaths, capacity)
        start = 0  # bars come grouped by dimension, in increasing dimension
        for dim in range(maxdim + 1):
            stop = start
            while stop < k and dims[stop] == dim:
                stop += 1
            group_b = births[start:stop]
            group_d = deaths[start:stop]
            if dim == 0:  # every H0 bar is born at 0
                all_births[used : used + stop - start] = 0.0
                all_deaths[used : used + stop - start] = np.sort(group_d)
            else:
                order = np.argsort(group_b, kind="mergesort")
                order = order[np.argsort(group_d[order], kind="mergesort")]
                for t in range(stop - start):
                    all_births[used + t] = group_b[order[t]]
                    all_deaths[used + t] = group_d[order[t]]
            counts[w, dim] = stop - start
            used += stop - start
            start = stop
    return counts, all_births[:used], all_deaths[:used]


@nb.njit(cache=True, nogil=True)
def h0_of_windows(
    data: np.ndarray,
    offsets: np.ndarray,
    widths: np.ndarray,
    is_distance: bool,
    threshold: np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rips_of_windows`` at maxdim 0, with the same layout: (counts (W, 1), births, deaths).

    An entry point of its own so that an H0-only caller (a maxdim-0 stream) compiles just the
    H0 kernels, in seconds, not the higher dimensions' (about 100 s on a cold cache).
    """
    n_windows = offsets.shape[0] - 1
    counts = np.zeros((n_windows, 1), np.int64)
    all_deaths = np.empty(data.shape[0], np.float32)  # a window has at most n bars
    used = 0
    for w in range(n_windows):
        flat = data[offsets[w] : offsets[w + 1]]
        width = widths[w]
        rows = flat.shape[0] // width if width > 0 else 0
        block = flat.reshape((rows, width))
        if is_distance:
            deaths, components = h0_prim(block.astype(np.float32), threshold)
        else:
            deaths, components = h0_prim_points(block, threshold)
        k = deaths.shape[0]
        all_deaths[used : used + k] = np.sort(deaths)
        all_deaths[used + k : used + k + components] = np.inf
        counts[w, 0] = k + components
        used += k + components
    return counts, np.zeros(used, np.float32), all_deaths[:used]


@nb.njit(cache=True, nogil=True)
def _resized(values: np.ndarray, capacity: int) -> np.ndarray:
    out = np.empty(capacity, values.dtype)
    out[: values.shape[0]] = values
    return out
