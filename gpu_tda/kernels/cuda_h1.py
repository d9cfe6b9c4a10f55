"""Dimensions 0 and 1 of a batch: everything but the few unpaired columns on the device.

Per window, on the device: the threshold lowered to the enclosing radius, the edges sorted in
filtration order (``cuda_edges``), the minimum spanning forest (Prim's algorithm, one block per
window) that pairs the tree edges in dimension 0, and every other edge's unreduced pivot and
apparent-pair test (``cuda_apparent``). Only the columns not in apparent pairs (a few dozen of
tens of thousands) come back to the host, where ``reduce_edge_columns`` hands them to the CPU
engine's reduction, ``cohomology.reduce_coboundary``, exactly as ``rips.rips_from_distances``
would after ``set_aside_apparent`` (at maxdim 1 no apparent pivot is recorded: the reduction
recognises them on the fly). The host takes the device's sorted edge keys along, so it decodes
each window's edges in filtration order instead of sorting them again (about 0.5 of its 4.4 ms
per window of 256 points on one core).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numba as nb
import numpy as np

from gpu_tda import device
from gpu_tda.kernels.coboundary import neighbour_order
from gpu_tda.kernels.cohomology import reduce_coboundary
from gpu_tda.kernels.combinatorics import binomial_table
from gpu_tda.kernels.cuda_apparent import EdgeColumns, classify_columns, gather_columns
from gpu_tda.kernels.cuda_edges import (
    ABSENT,
    enclosing_thresholds,
    sorted_edge_keys,
    spanning_forest,
)
from gpu_tda.kernels.edge_buckets import buckets_for
from gpu_tda.kernels.h0 import decode_edge_keys
from gpu_tda.kernels.pivot_index import new_pivot_index

BYTES_PER_EDGE = 80
"""Device bytes per edge at the peak: key and its sort buffer, state, pivot, and the gather
(its mask, index scan and outputs, counted as if every column were left to reduce)."""


@dataclasses.dataclass(frozen=True)
class EdgePairing:
    """A batch's dimension 0 and its dimension-1 columns left to reduce, on the host.

    ``weights``/``components``: H0 in the layout of ``cuda_h0.batched_h0``; ``thresholds``:
    each window's threshold after the enclosing-radius cut; ``keys``: (B, n(n-1)/2) uint64, each
    window's edge keys in filtration order, ``ABSENT`` after its last edge within the threshold;
    ``columns``: see ``EdgeColumns``.
    """

    weights: np.ndarray
    components: np.ndarray
    thresholds: np.ndarray
    keys: np.ndarray
    columns: EdgeColumns


def pair_edges(dist: Any, threshold: float, threads: int = 128) -> EdgePairing:
    """H0 and the unreduced H1 columns of every window of ``dist`` (B, n, n) float32 (device).

    ``threads``: block size of the edge kernels, a power of two (the spanning forest's blocks,
    one per window, are the smallest power of two covering n, at most ``threads``).
    """
    thresholds = enclosing_thresholds(dist, threshold)
    keys = sorted_edge_keys(dist, thresholds, threads=threads)
    state, weights, components = spanning_forest(dist, thresholds, keys, max_threads=threads)
    pivot_d, pivot_i = classify_columns(dist, keys, thresholds, state, threads=threads)
    return EdgePairing(
        weights=device.to_host(weights),
        components=device.to_host(components),
        thresholds=device.to_host(thresholds),
        keys=device.to_host(keys),
        columns=gather_columns(keys, state, pivot_d, pivot_i),
    )


@nb.njit(cache=True, nogil=True)
def reduce_edge_columns(
    dist: np.ndarray,
    thresholds: np.ndarray,
    keys: np.ndarray,
    starts: np.ndarray,
    col_d: np.ndarray,
    col_i: np.ndarray,
    pivot_d: np.ndarray,
    pivot_i: np.ndarray,
    lo: int,
    hi: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H1 bars of windows lo..hi-1 of ``dist`` (B, n, n) float32 from their gathered columns
    and sorted edge keys (``EdgePairing``).

    Returns (window, birth, death) per bar, unordered; zero-length bars are dropped.
    """
    n = dist.shape[1]
    binom = binomial_table(n, 3)
    total = 0
    windows = np.empty(16, np.int64)
    births = np.empty(16, np.float32)
    deaths = np.empty(16, np.float32)
    for w in range(lo, hi):
        s = starts[w]
        e = starts[w + 1]
        if s == e:
            continue
        edges = keys[w, : np.searchsorted(keys[w], ABSENT)]
        edge_d, _, ends = decode_edge_keys(edges)
        order, sorted_dist = neighbour_order(n, edge_d, ends)
        pivot_keys, pivot_values = new_pivot_index(e - s)
        b, d = reduce_coboundary(
            dist[w],
            sorted_dist,
            order,
            binom,
            1,
            thresholds[w],
            col_d[s:e],
            col_i[s:e],
            pivot_keys,
            pivot_values,
            pivot_d[s:e],
            pivot_i[s:e],
            buckets_for(n, edge_d, ends),
        )
        k = b.shape[0]
        if total + k > births.shape[0]:
            size = 2 * (total + k)
            windows = _grown(windows, size)
            births = _grown(births, size)
            deaths = _grown(deaths, size)
        windows[total : total + k] = w
        births[total : total + k] = b
        deaths[total : total + k] = d
        total += k
    return windows[:total], births[:total], deaths[:total]


@nb.njit(cache=True, nogil=True)
def _grown(values: np.ndarray, size: int) -> np.ndarray:
    out = np.empty(size, values.dtype)
    out[: values.shape[0]] = values
    return out
