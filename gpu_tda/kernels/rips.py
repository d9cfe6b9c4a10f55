"""Whole-window Vietoris-Rips persistence: distances -> H0 -> H1..Hmaxdim, as flat bar arrays.

Bars come out as three parallel arrays (dims, births, deaths); essential bars have death = inf
and zero-length bars are dropped, as in ripser.
"""

import numba as nb
import numpy as np

from gpu_tda.kernels import edge_buckets as eb
from gpu_tda.kernels.assembly import assemble_columns
from gpu_tda.kernels.coboundary import neighbour_order
from gpu_tda.kernels.cohomology import (
    classify_all,
    reduce_coboundary,
    set_aside_apparent,
)
from gpu_tda.kernels.combinatorics import binomial_table
from gpu_tda.kernels.distances import enclosing_radius, pairwise_distances
from gpu_tda.kernels.edge_sweep import classify_edges, triangle_columns
from gpu_tda.kernels.filtration_order import sort_lengths, sort_simplices
from gpu_tda.kernels.h0 import h0_kruskal, h0_prim, h0_prim_points, sorted_edges
from gpu_tda.kernels.pivot_index import new_pivot_index, with_room


@nb.njit(cache=True, nogil=True)
def rips_from_distances(
    dist: np.ndarray, maxdim: int, threshold: np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, n) float32 distances -> (dims int64, births float32, deaths float32)."""
    n = dist.shape[0]
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.float32)
    if maxdim == 0:
        return _h0_bars(*h0_prim(dist, threshold))
    bars, sweep = _through_h1(dist, maxdim, threshold)
    if maxdim == 1:
        return bars
    return _higher_dims(dist, maxdim, bars, sweep)


@nb.njit(cache=True, nogil=True)
def rips_h1_from_distances(
    dist: np.ndarray, threshold: np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rips_from_distances`` at maxdim 1, compiled without the higher dimensions' kernels
    (about 40 s less on a cold cache)."""
    if dist.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.float32)
    return _through_h1(dist, 1, threshold)[0]


@nb.njit(cache=True, nogil=True)
def _through_h1(dist, maxdim, threshold):
    """H0 and H1 of a non-empty window: ((dims, births, deaths), what the higher dimensions
    continue from: (sorted_dist, order, binom, threshold, edge_d, edge_i, keys, values))."""
    n = dist.shape[0]
    threshold = min(threshold, enclosing_radius(dist))
    edge_d, edge_i, ends = sorted_edges(dist, threshold)
    h0_deaths, components, col_pos = h0_kruskal(n, edge_d, ends)
    dims, births, deaths = _h0_bars(h0_deaths, components)
    binom = binomial_table(n, maxdim + 2)
    order, sorted_dist = neighbour_order(n, edge_d, ends)
    # dimension 1: the edges left by the union-find, in reverse filtration order
    col_d = edge_d[col_pos]
    col_i = edge_i[col_pos]
    keys, values = new_pivot_index(col_d.shape[0])
    pivot_d, pivot_i, apparent = classify_edges(
        dist, sorted_dist, order, binom, threshold, edge_d, edge_i, ends, col_pos
    )
    col_d, col_i, pivot_d, pivot_i = set_aside_apparent(
        col_d, col_i, pivot_d, pivot_i, apparent, keys, values, maxdim > 1
    )
    b, d = reduce_coboundary(
        dist, sorted_dist, order, binom, 1, threshold, col_d, col_i, keys, values, pivot_d,
        pivot_i, eb.buckets_for(n, edge_d, ends),
    )  # fmt: skip
    bars = _with_bars(dims, births, deaths, 1, b, d)
    return bars, (sorted_dist, order, binom, threshold, edge_d, edge_i, keys, values)


@nb.njit(cache=True, nogil=True)
def _higher_dims(dist, maxdim, bars, sweep):
    """Dimensions 2..maxdim, continuing from ``_through_h1``: the columns of each dimension are
    assembled from the simplices of the one below (first the edges), classified, reduced."""
    dims, births, deaths = bars
    sorted_dist, order, binom, threshold, simp_d, simp_i, keys, values = sweep
    for dim in range(2, maxdim + 1):
        if dim == 2:  # assembled columns: apparent pairs already set aside, sort the rest
            col_d, col_i, simp_d, simp_i, keys, values = triangle_columns(
                dist, binom, simp_d, simp_i, keys, values, maxdim > 2, maxdim > 2
            )
        else:
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
            )
        col_d, col_i = sort_simplices(col_d, col_i, True)
        keys, values = with_room(keys, values, col_d.shape[0])
        pivot_d, pivot_i, _ = classify_all(
            dist, sorted_dist, order, binom, dim, threshold, col_d, col_i
        )
        b, d = reduce_coboundary(
            dist, sorted_dist, order, binom, dim, threshold, col_d, col_i, keys, values,
            pivot_d, pivot_i, eb.no_buckets(),
        )  # fmt: skip
        dims, births, deaths = _with_bars(dims, births, deaths, dim, b, d)
    return dims, births, deaths


@nb.njit(cache=True, nogil=True)
def _with_bars(dims, births, deaths, dim, b, d):
    """The flat bars with dimension ``dim``'s (b, d) appended."""
    dims = np.concatenate((dims, np.full(b.shape[0], dim, np.int64)))
    return dims, np.concatenate((births, b)), np.concatenate((deaths, d))


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Persistence of many windows packed in one flat float64 array, one after another.

    Window w occupies data[offsets[w]:offsets[w+1]] as a row-major (n_w, widths[w]) array:
    points of dimension widths[w], or an (n_w, n_w) distance matrix when ``is_distance``.
    Returns (counts, births, deaths): counts[w, dim] bars per window and dimension, the bars
    grouped by window then dimension, each group sorted by (death, birth).

    Callers that know their maxdim is 0 or 1 may call ``h0_of_windows`` / ``h1_of_windows``
    directly (the same results): compiling those alone takes a fraction of the time.
    """
    if maxdim == 0:
        return h0_of_windows(data, offsets, widths, is_distance, threshold)
    if maxdim == 1:
        return h1_of_windows(data, offsets, widths, is_distance, threshold)
    collected = _new_collection(offsets.shape[0] - 1, maxdim)
    for w in range(offsets.shape[0] - 1):
        dist = _window_distances(data, offsets, widths, w, is_distance)
        bars = rips_from_distances(dist, maxdim, threshold)
        collected = _collect(collected, w, bars)
    return _collected(collected)


@nb.njit(cache=True, nogil=True)
def h1_of_windows(
    data: np.ndarray,
    offsets: np.ndarray,
    widths: np.ndarray,
    is_distance: bool,
    threshold: np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rips_of_windows`` at maxdim 1, compiled without the kernels of dimensions 2 and 3."""
    collected = _new_collection(offsets.shape[0] - 1, 1)
    for w in range(offsets.shape[0] - 1):
        dist = _window_distances(data, offsets, widths, w, is_distance)
        collected = _collect(collected, w, rips_h1_from_distances(dist, threshold))
    return _collected(collected)


@nb.njit(cache=True, nogil=True)
def h0_of_windows(
    data: np.ndarray,
    offsets: np.ndarray,
    widths: np.ndarray,
    is_distance: bool,
    threshold: np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rips_of_windows`` at maxdim 0, compiled with the H0 kernels alone (seconds, not the
    minutes all dimensions take on a cold cache)."""
    n_windows = offsets.shape[0] - 1
    counts = np.zeros((n_windows, 1), np.int64)
    all_deaths = np.empty(data.shape[0], np.float32)  # a window has at most n bars
    used = 0
    for w in range(n_windows):
        block = _window(data, offsets, widths, w)
        if is_distance:
            deaths, components = h0_prim(block.astype(np.float32), threshold)
        else:
            deaths, components = h0_prim_points(block, threshold)
        k = deaths.shape[0]
        sort_lengths(deaths)
        all_deaths[used : used + k] = deaths
        all_deaths[used + k : used + k + components] = np.inf
        counts[w, 0] = k + components
        used += k + components
    return counts, np.zeros(used, np.float32), all_deaths[:used]


@nb.njit(cache=True, nogil=True)
def _window(data, offsets, widths, w):
    """Window ``w`` of the packed batch as its (rows, width) array."""
    flat = data[offsets[w] : offsets[w + 1]]
    width = widths[w]
    rows = flat.shape[0] // width if width > 0 else 0
    return flat.reshape((rows, width))


@nb.njit(cache=True, nogil=True)
def _window_distances(data, offsets, widths, w, is_distance):
    """Window ``w``'s (n, n) float32 distances (computed from its points, or as given)."""
    block = _window(data, offsets, widths, w)
    return block.astype(np.float32) if is_distance else pairwise_distances(block)


@nb.njit(cache=True, nogil=True)
def _new_collection(n_windows, maxdim):
    """(counts, births, deaths, used): the bars of a batch, filled window after window."""
    counts = np.zeros((n_windows, maxdim + 1), np.int64)
    return counts, np.empty(64, np.float32), np.empty(64, np.float32), np.int64(0)


@nb.njit(cache=True, nogil=True)
def _collect(collected, w, bars):
    """Add window ``w``'s flat bars (grouped by dimension, increasing) to ``collected``, each
    dimension's sorted by (death, birth)."""
    counts, all_births, all_deaths, used = collected
    dims, births, deaths = bars
    k = dims.shape[0]
    if used + k > all_births.shape[0]:
        capacity = all_births.shape[0]
        while used + k > capacity:
            capacity *= 2
        all_births = _resized(all_births, capacity)
        all_deaths = _resized(all_deaths, capacity)
    start = 0
    for dim in range(counts.shape[1]):
        stop = start
        while stop < k and dims[stop] == dim:
            stop += 1
        group_b = births[start:stop]
        group_d = deaths[start:stop]
        if dim == 0:  # every H0 bar is born at 0
            all_births[used : used + stop - start] = 0.0
            all_deaths[used : used + stop - start] = group_d
            sort_lengths(all_deaths[used : used + stop - start])
        else:
            order = np.argsort(group_b, kind="mergesort")
            order = order[np.argsort(group_d[order], kind="mergesort")]
            for t in range(stop - start):
                all_births[used + t] = group_b[order[t]]
                all_deaths[used + t] = group_d[order[t]]
        counts[w, dim] = stop - start
        used += stop - start
        start = stop
    return counts, all_births, all_deaths, used


@nb.njit(cache=True, nogil=True)
def _collected(collected):
    counts, all_births, all_deaths, used = collected
    return counts, all_births[:used], all_deaths[:used]


@nb.njit(cache=True, nogil=True)
def _resized(values: np.ndarray, capacity: int) -> np.ndarray:
    out = np.empty(capacity, values.dtype)
    out[: values.shape[0]] = values
    return out
