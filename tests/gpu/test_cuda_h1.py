"""H1 on the device (edge sort, spanning forest, apparent pairs) under the simulator, against the
CPU kernels step by step, and the engine's diagrams against the CPU engine (bit for bit) and
ripser."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_tda import cpu_engine
from gpu_tda.gpu_engine import HOST_OVERLAP_MIN_BATCH, HOST_OVERLAP_PARTS, GpuEngine
from gpu_tda.kernels.coboundary import neighbour_order
from gpu_tda.kernels.cohomology import classify_all
from gpu_tda.kernels.combinatorics import binomial_table
from gpu_tda.kernels.cuda_apparent import classify_columns, gather_columns
from gpu_tda.kernels.cuda_distances import batched_distances
from gpu_tda.kernels.cuda_edges import (
    ABSENT,
    MAX_BATCH,
    TREE,
    decode_keys,
    enclosing_thresholds,
    sorted_edge_keys,
    spanning_forest,
)
from gpu_tda.kernels.h0 import edge_vertices, h0_prim, sorted_edges
from tests.diagram_oracle import assert_identical_results, assert_same_diagrams, ripser_diagrams

pytestmark = pytest.mark.gpu_sim


def _distances(points: np.ndarray) -> np.ndarray:
    out = np.empty((points.shape[0], points.shape[1], points.shape[1]), np.float32)
    return batched_distances(points, out, tile=4, max_tiles=2)


def _windows(make_clouds, n: int) -> np.ndarray:
    """Noisy circles, an integer grid (ties) and a cloud with duplicates, all of n points."""
    circles = make_clouds([n, n])
    grid = make_clouds([n], kind="grid")[0]
    dupes = make_clouds([n // 2], kind="uniform")[0]
    return np.stack([*circles, grid, np.concatenate([dupes, dupes[: n - n // 2]])])


def _kruskal_columns(n: int, edge_d: np.ndarray, edge_i: np.ndarray) -> np.ndarray:
    """Positions of the non-tree edges (a plain union-find over sorted edges)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    columns = []
    for pos, index in enumerate(edge_i.tolist()):
        i, j = edge_vertices(index)
        ri, rj = find(i), find(j)
        if ri == rj:
            columns.append(pos)
        else:
            parent[ri] = rj
    return np.array(columns, dtype=np.int64)


def _assert_kruskal_forest(
    dist: np.ndarray, thr: np.float32, state: np.ndarray, weights: np.ndarray, components: int
) -> np.ndarray:
    """One window's dimension 0 from ``spanning_forest`` is Kruskal's, and H0 is ``h0_prim``'s.

    Returns the positions of its non-tree edges within the threshold (its columns).
    """
    n = dist.shape[0]
    edge_d, edge_i, _ = sorted_edges(dist, thr)
    columns = _kruskal_columns(n, edge_d, edge_i)
    tree = np.flatnonzero(state == TREE)
    assert np.array_equal(tree, np.setdiff1d(np.arange(edge_d.shape[0]), columns))
    assert components == n - tree.shape[0]
    assert np.array_equal(weights, np.sort(np.concatenate([np.zeros(components), edge_d[tree]])))
    deaths, count = h0_prim(dist, thr)
    assert components == count
    assert np.array_equal(weights[weights > 0], np.sort(deaths))
    return columns


@pytest.mark.parametrize("threshold", [np.inf, 1.0, 0.3])
@pytest.mark.parametrize("threads", [4, 256])
def test_each_step_matches_the_cpu_kernels(make_clouds, threshold, threads):
    dist = _distances(_windows(make_clouds, 16))
    n = dist.shape[1]
    thresholds = enclosing_thresholds(dist, threshold)
    keys = sorted_edge_keys(dist, thresholds, threads=4)
    state, weights, components = spanning_forest(dist, thresholds, keys, max_threads=threads)
    pivot_d, pivot_i = classify_columns(dist, keys, thresholds, state, threads=4, per_thread=4)
    gathered = gather_columns(keys, state, pivot_d, pivot_i)
    binom = binomial_table(n, 3)
    set_aside = 0
    for b in range(dist.shape[0]):
        thr = thresholds[b]
        assert thr == min(np.float32(threshold), dist[b].max(axis=1).min())
        # edges in filtration order, the rest absent
        edge_d, edge_i, ends = sorted_edges(dist[b], thr)
        valid = keys[b] != ABSENT
        assert valid.sum() == edge_d.shape[0] and valid[: edge_d.shape[0]].all()
        got_d, got_i = decode_keys(keys[b][valid])
        assert np.array_equal(got_d, edge_d) and np.array_equal(got_i, edge_i)
        # dimension 0
        columns = _assert_kruskal_forest(dist[b], thr, state[b], weights[b], components[b])
        # dimension-1 columns: pivots and apparent pairs, in reverse filtration order
        col_d = edge_d[columns[::-1]]
        col_i = edge_i[columns[::-1]]
        order, sorted_dist = neighbour_order(n, edge_d, ends)
        want_d, want_i, apparent = classify_all(
            dist[b], sorted_dist, order, binom, 1, thr, col_d, col_i
        )
        lo, hi = gathered.starts[b], gathered.starts[b + 1]
        keep = ~apparent
        assert np.array_equal(gathered.col_d[lo:hi], col_d[keep])
        assert np.array_equal(gathered.col_i[lo:hi], col_i[keep])
        assert np.array_equal(gathered.pivot_d[lo:hi], want_d[keep])
        assert np.array_equal(gathered.pivot_i[lo:hi], want_i[keep])
        set_aside += int(apparent.sum())
    assert set_aside > 0


@pytest.mark.parametrize("threads", [1, 4, 256])
def test_spanning_forest_of_degenerate_windows(make_clouds, threads):
    """Kruskal's forest for 0 to 5 points: duplicates (zero-length ties), every edge over the
    threshold, and thresholds that split the cloud into components (per-window thresholds)."""
    for n in range(6):
        spread = np.arange(n, dtype=np.float64)[:, None] * [1.0, 0.0]
        cloud = make_clouds([n], kind="uniform")[0]
        clusters = cloud + 10.0 * (np.arange(n) % 3)[:, None]
        points = np.stack([spread, np.zeros((n, 2)), np.repeat(cloud[: (n + 1) // 2], 2, 0)[:n]])
        points = np.concatenate([points, clusters[None], spread[None]])
        dist = _distances(points)
        below = np.float32(0.5)  # every edge of spread is >= 1: all absent
        thresholds = np.array([np.inf, 0.0, 0.0, 5.0, below], dtype=np.float32)
        keys = sorted_edge_keys(dist, thresholds, threads=4)
        state, weights, components = spanning_forest(dist, thresholds, keys, max_threads=threads)
        assert state.shape == keys.shape and weights.shape == (5, n)
        for b in range(dist.shape[0]):
            _assert_kruskal_forest(dist[b], thresholds[b], state[b], weights[b], components[b])
        assert components[3] == min(n, 3) and components[4] == n
        assert (keys[4] == ABSENT).all() and not state[4].any()


@pytest.mark.parametrize("threshold", [np.inf, 1.0, 0.45])
def test_h1_engine_equals_cpu_engine_and_ripser(make_clouds, threshold):
    clouds = [
        *make_clouds([20, 14, 20]),
        *make_clouds([18], kind="grid"),
        *make_clouds([9], dim=3, kind="grid"),
        np.repeat(make_clouds([7], kind="uniform")[0], 3, axis=0),
        *make_clouds([24, 11], dim=3, kind="uniform"),
    ]
    engine = GpuEngine(n_threads=2)
    ours = engine.persistence_many(clouds, 1, threshold, False, None)
    assert_identical_results(ours, cpu_engine.persistence_many(clouds, 1, threshold, False, None))
    for dgms, cloud in zip(ours, clouds, strict=True):
        assert_same_diagrams(dgms, ripser_diagrams(cloud, 1, threshold))
    assert engine.stats.cpu_fallbacks == 0


def test_h1_of_tiny_and_disconnected_windows(make_clouds):
    two_clusters = np.concatenate([make_clouds([8])[0], make_clouds([8])[0] + 10.0])
    clouds = [
        np.empty((0, 2)),
        np.zeros((1, 2)),
        np.array([[0.0, 0.0], [3.0, 4.0]]),
        np.zeros((2, 2)),
        np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        two_clusters,
    ]
    for threshold in (np.inf, 2.0):
        ours = GpuEngine(n_threads=1).persistence_many(clouds, 1, threshold, False, None)
        assert_identical_results(
            ours, cpu_engine.persistence_many(clouds, 1, threshold, False, None)
        )
        for dgms, cloud in zip(ours, clouds, strict=True):
            assert_same_diagrams(dgms, ripser_diagrams(cloud, 1, threshold))
    assert ours[2][0].tolist() == [[0.0, np.inf], [0.0, np.inf]]  # threshold 2 < 5


def test_h1_of_distance_matrices_with_missing_edges(make_clouds):
    cloud = make_clouds([12], kind="uniform")[0]
    full = np.sqrt(((cloud[:, None] - cloud[None]) ** 2).sum(-1))
    apart = full.copy()
    apart[:6, 6:] = apart[6:, :6] = np.inf  # two components: no edge between them
    matrices = [full, apart]
    for threshold in (np.inf, 0.6):
        ours = GpuEngine().persistence_many(matrices, 1, threshold, True, None)
        assert_identical_results(
            ours, cpu_engine.persistence_many(matrices, 1, threshold, True, None)
        )
    assert_same_diagrams(ours[0], ripser_diagrams(full, 1, 0.6, distance_matrix=True))


def test_h1_batches_split_by_memory_give_the_same_diagrams(make_clouds):
    clouds = make_clouds([12] * 5)
    engine = GpuEngine(max_batch=2, n_threads=3)
    ours = engine.persistence_many(clouds, 1, np.inf, False, None)
    assert_identical_results(ours, cpu_engine.persistence_many(clouds, 1, np.inf, False, None))
    assert engine.stats.device_batches == 3


def test_windows_the_host_finishes_go_to_the_device_in_parts():
    """At maxdim >= 1 a large bucket is cut into HOST_OVERLAP_PARTS batches, so the host reduces
    one while the device runs the next; small buckets and maxdim 0 stay whole."""
    engine = GpuEngine(memory_fraction=1.0)
    whole = engine._batch_size(per_window=1, total=4096)
    parts = engine._batch_size(per_window=1, total=4096, host_finishes=True)
    assert whole == 4096
    assert parts == 4096 // HOST_OVERLAP_PARTS
    small = 2 * HOST_OVERLAP_MIN_BATCH - 1
    assert engine._batch_size(per_window=1, total=small, host_finishes=True) == small
    two = 2 * HOST_OVERLAP_MIN_BATCH + 1
    assert engine._batch_size(per_window=1, total=two, host_finishes=True) == two - two // 2


def test_edge_kernels_refuse_more_windows_than_one_grid_holds():
    """The window is the grid's y index (at most 65,535): a larger batch is refused before any
    launch, and the engine's batches stay within it."""
    over = MAX_BATCH + 1
    dist = np.zeros((over, 2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="at most 65535 windows per launch"):
        sorted_edge_keys(dist, np.zeros(over, dtype=np.float32))
    with pytest.raises(ValueError, match="at most 65535 windows per launch"):
        classify_columns(dist, np.zeros((over, 1), np.uint64), dist[:, 0, 0], np.zeros((over, 1)))
    engine = GpuEngine(memory_fraction=1.0)
    assert engine._batch_size(per_window=1, total=10**6) == MAX_BATCH
