"""The small kernels the cohomology reduction stands on, checked against plain Python."""

from __future__ import annotations

import itertools
from math import comb

import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.kernels import edge_buckets, pivot_index, working_column
from gpu_tda.kernels.assembly import assemble_columns
from gpu_tda.kernels.bits import bits_float64, float64_bits
from gpu_tda.kernels.coboundary import neighbour_order
from gpu_tda.kernels.cohomology import classify_all, reduce_coboundary, set_aside_apparent
from gpu_tda.kernels.combinatorics import binomial_table, simplex_vertices
from gpu_tda.kernels.distances import enclosing_radius, pairwise_distances
from gpu_tda.kernels.edge_sweep import classify_edges, triangle_columns
from gpu_tda.kernels.filtration_order import (
    sort_keys,
    sort_keys_by_upper_half,
    sort_lengths,
    sort_simplices,
)
from gpu_tda.kernels.h0 import edge_vertices, h0_kruskal, h0_prim, h0_prim_points, sorted_edges


def test_binomial_table() -> None:
    table = binomial_table(30, 5)
    for k in range(6):
        for m in range(31):
            assert table[k, m] == comb(m, k)


def test_simplex_index_round_trip() -> None:
    n, binom = 12, binomial_table(12, 5)
    out = np.empty(5, dtype=np.int64)
    for dim in range(4):
        simplices = sorted(itertools.combinations(range(n), dim + 1), key=lambda s: s[::-1])
        for index, verts in enumerate(simplices):
            assert sum(comb(v, i + 1) for i, v in enumerate(verts)) == index
            simplex_vertices(np.int64(index), dim, n, binom, out)
            assert list(out[: dim + 1]) == sorted(verts, reverse=True)


def test_edge_vertices_inverts_edge_index() -> None:
    for i in range(1, 300):
        for j in range(0, i, 7):
            assert edge_vertices(np.int64(i * (i - 1) // 2 + j)) == (i, j)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40)), max_size=200),
    st.booleans(),
    st.booleans(),
)
def test_sort_simplices_orders_by_diameter_then_index(pairs, reverse: bool, wide: bool) -> None:
    diams = np.array([p[0] * 0.25 for p in pairs], dtype=np.float32)
    offset = 2**40 if wide else 0  # indices too wide to pack take the two-pass path
    indices = np.array([p[1] + offset for p in pairs], dtype=np.int64)
    got_d, got_i = sort_simplices(diams, indices, reverse)
    want = sorted(zip(diams.tolist(), indices.tolist(), strict=True), key=lambda e: (e[0], -e[1]))
    if reverse:
        want = want[::-1]
    assert list(zip(got_d.tolist(), got_i.tolist(), strict=True)) == want


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=300))
def test_heap_pops_pivots_with_z2_cancellation(simplices) -> None:
    entries = [(i % 5, i) for i in simplices]  # a simplex always has one diameter
    diams = np.empty(4, dtype=np.float32)
    indices = np.empty(4, dtype=np.int64)
    size = 0
    for d, i in entries:
        if size == diams.shape[0]:
            diams, indices = working_column.grow(diams, indices)
        size = working_column.push(diams, indices, size, np.float32(d), np.int64(i))
    # Z/2: an entry survives when it was pushed an odd number of times
    counts: dict[tuple[int, int], int] = {}
    for e in entries:
        counts[e] = counts.get(e, 0) + 1
    want = sorted((e for e, c in counts.items() if c % 2), key=lambda e: (e[0], -e[1]))
    got = []
    while True:
        size, d, i = working_column.pop_pivot(diams, indices, size)
        if i == -1:
            break
        got.append((int(d), int(i)))
    assert got == want


def test_pivot_index_behaves_like_a_dict() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**50, size=5000)
    table_keys, table_values = pivot_index.new_pivot_index(len(keys))
    reference = {}
    for value, key in enumerate(keys):
        pivot_index.insert(table_keys, table_values, np.int64(key), np.int64(value))
        reference[int(key)] = value
    for key, value in reference.items():
        assert pivot_index.lookup(table_keys, table_values, np.int64(key)) == value
    for key in rng.integers(2**51, 2**52, size=100):
        assert pivot_index.lookup(table_keys, table_values, np.int64(key)) == -1


@nb.njit
def _bits_round_trip(values):
    bits = np.empty(values.shape[0], np.int64)
    back = np.empty_like(values)
    for i in range(values.shape[0]):
        bits[i] = float64_bits(values[i])
        back[i] = bits_float64(bits[i])
    return bits, back


def test_float64_bits_are_the_pattern_and_order_non_negative_floats() -> None:
    """Prim's vectorised minimum stands on this: for keys >= +0.0 (and inf) the int64 patterns
    order as the floats do."""
    rng = np.random.default_rng(3)
    values = np.concatenate([
        [0.0, 5e-324, 2.2250738585072014e-308, 1.0, np.nextafter(1.0, 2.0), 1e308, np.inf],
        np.abs(rng.normal(size=200)) * 10.0 ** rng.integers(-300, 300, size=200),
    ])  # fmt: skip
    bits, back = _bits_round_trip(values)
    np.testing.assert_array_equal(bits, values.view(np.int64))
    np.testing.assert_array_equal(back.view(np.int64), values.view(np.int64))
    order = np.argsort(values, kind="stable")
    np.testing.assert_array_equal(np.argsort(bits, kind="stable"), order)


def test_pairwise_distances_are_float64_sums_rounded_to_float32() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3)) * 1e3 + 1e6
    X[5] = X[3]
    D = pairwise_distances(X)
    want = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)).astype(np.float32)
    assert D.dtype == np.float32
    np.testing.assert_array_equal(D, want)
    assert D[5, 3] == 0.0


@pytest.mark.parametrize("d", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("threshold", [np.inf, 1.0])
@pytest.mark.parametrize("style", ["normal", "grid", "far"])
def test_prim_on_points_gives_the_bits_of_prim_on_the_distance_matrix(d, threshold, style):
    """The point path (fused distance, relax and minimum for d <= 3) rounds to the same float32
    lengths as the matrix of pairwise_distances, ties and duplicates included."""
    rng = np.random.default_rng(d)
    for n in (0, 1, 2, 5, 40, 129):
        if style == "grid":
            X = rng.integers(0, 3, size=(n, d)).astype(np.float64)
        elif style == "far":
            X = rng.normal(size=(n, d)) * 1e3 + 1e6
        else:
            X = rng.normal(size=(n, d))
        thr = np.float32(threshold if style != "far" else threshold * 1e3)
        deaths, components = h0_prim_points(X, thr)
        want, want_components = h0_prim(pairwise_distances(X), thr)
        np.testing.assert_array_equal(np.sort(deaths), np.sort(want))
        assert components == want_components


def _cloud(seed: int, n: int, grid: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if grid:  # exact ties and duplicate points
        return rng.integers(0, 3, size=(n, 2)).astype(np.float64)
    return rng.normal(size=(n, 3))


def test_enclosing_radius_is_the_smallest_eccentricity() -> None:
    for seed in range(5):
        dist = pairwise_distances(_cloud(seed, 30, seed % 2 == 0))
        assert enclosing_radius(dist) == dist.max(axis=1).min()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 40), st.booleans(), st.booleans())
def test_sorted_edges_are_in_filtration_order_with_their_vertices(seed, n, grid, bounded) -> None:
    """Length ascending, ties by index descending (grids tie often); ends decode each index."""
    dist = pairwise_distances(_cloud(seed, n, grid))
    threshold = np.float32(1.5 if bounded else np.inf)
    edge_d, edge_i, ends = sorted_edges(dist, threshold)
    pairs = [(i, j) for i in range(n) for j in range(i) if dist[i, j] <= threshold]
    want = sorted((float(dist[i, j]), -comb(i, 2) - j) for i, j in pairs)
    assert [(float(d), -int(i)) for d, i in zip(edge_d, edge_i, strict=True)] == want
    assert ends.dtype == np.int32
    assert [comb(int(i), 2) + int(j) for i, j in ends] == edge_i.tolist()
    assert (ends[:, 0] > ends[:, 1]).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 30), st.booleans(), st.booleans())
def test_neighbour_order_lists_each_rows_neighbours_nearest_first(seed, n, grid, bounded) -> None:
    dist = pairwise_distances(_cloud(seed, n, grid))
    threshold = np.float32(1.5 if bounded else np.inf)
    edge_d, _, ends = sorted_edges(dist, threshold)
    order, sorted_dist = neighbour_order(n, edge_d, ends)
    for v in range(n):
        near = [u for u in range(n) if u != v and dist[v, u] <= threshold]
        k = len(near)
        assert sorted(order[v, :k].tolist()) == near
        assert (sorted_dist[v, :k] == dist[v, order[v, :k]]).all()
        assert (np.diff(sorted_dist[v, :k]) >= 0).all()
        assert (sorted_dist[v, k:] == np.inf).all() and (order[v, k:] == -1).all()


def _dimension_one_state(dist: np.ndarray, threshold: np.float32):
    n = dist.shape[0]
    edge_d, edge_i, ends = sorted_edges(dist, threshold)
    _, _, col_pos = h0_kruskal(n, edge_d, ends)
    return edge_d, edge_i, ends, col_pos, binomial_table(n, 4)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 24), st.booleans(), st.booleans())
def test_edge_sweep_classifies_edges_like_the_pivot_search(seed, n, grid, bounded) -> None:
    dist = pairwise_distances(_cloud(seed, n, grid))
    threshold = np.float32(1.5 if bounded else np.inf)
    edge_d, edge_i, ends, col_pos, binom = _dimension_one_state(dist, threshold)
    order, sorted_dist = neighbour_order(n, edge_d, ends)
    col_d, col_i = edge_d[col_pos], edge_i[col_pos]
    want = classify_all(dist, sorted_dist, order, binom, 1, threshold, col_d, col_i)
    got = classify_edges(dist, sorted_dist, order, binom, threshold, edge_d, edge_i, ends, col_pos)
    for w, g in zip(want, got, strict=True):
        assert (w == g).all()


def _reduced_edge_columns(dist, threshold, buckets):
    """H1 bars and the pivot map of the window's dimension-1 reduction."""
    n = dist.shape[0]
    edge_d, edge_i, ends, col_pos, binom = _dimension_one_state(dist, threshold)
    order, sorted_dist = neighbour_order(n, edge_d, ends)
    col_d, col_i = edge_d[col_pos], edge_i[col_pos]
    keys, values = pivot_index.new_pivot_index(col_d.shape[0])
    edges = (edge_d, edge_i, ends)
    pivots = classify_edges(dist, sorted_dist, order, binom, threshold, *edges, col_pos)
    columns = set_aside_apparent(col_d, col_i, *pivots, keys, values, True)
    work = edge_buckets.new_buckets(n, edge_d, ends) if buckets else edge_buckets.no_buckets()
    args = (dist, sorted_dist, order, binom, 1, threshold, *columns[:2], keys, values)
    births, deaths = reduce_coboundary(*args, *columns[2:], work)
    bars = sorted(zip(births.tolist(), deaths.tolist(), strict=True))
    owned = {int(k): int(values[p]) for p, k in enumerate(keys) if k != -1}
    return bars, owned


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 40), st.booleans(), st.booleans())
def test_edge_buckets_reduce_like_the_heap(seed, n, grid, bounded) -> None:
    """The per-edge bitset column gives the heap's bars and pivots, ties (grids) included."""
    dist = pairwise_distances(_cloud(seed, n, grid))
    threshold = np.float32(1.5 if bounded else min(np.inf, enclosing_radius(dist)))
    heap = _reduced_edge_columns(dist, threshold, False)
    assert _reduced_edge_columns(dist, threshold, True) == heap


@pytest.mark.parametrize("n", [63, 64, 65, 130, 200])
@pytest.mark.parametrize("grid", [False, True])
def test_edge_buckets_reduce_like_the_heap_over_several_words(n, grid) -> None:
    """Rows of more than one 64-bit word (third vertices >= 64), at word boundaries."""
    rng = np.random.default_rng(n)
    if grid:  # many exact ties and duplicate points
        points = rng.integers(0, 8, size=(n, 2)).astype(np.float64)
    else:  # a noisy circle: one long bar, hundreds of column additions
        t = rng.uniform(0, 2 * np.pi, n)
        points = np.column_stack([np.cos(t), np.sin(t)]) + rng.normal(scale=0.1, size=(n, 2))
    dist = pairwise_distances(points)
    threshold = np.float32(enclosing_radius(dist))
    heap = _reduced_edge_columns(dist, threshold, False)
    assert _reduced_edge_columns(dist, threshold, True) == heap
    assert heap[0]  # some bars: the comparison is not vacuous


def _patterned(rng, m: int, fixed: int, varying: int, dtype: type) -> np.ndarray:
    """``m`` random words of ``dtype`` that agree with ``fixed`` outside the ``varying`` bits."""
    noise = rng.integers(0, np.iinfo(dtype).max, size=m, dtype=dtype, endpoint=True)
    return (noise & dtype(varying)) | (dtype(fixed) & ~dtype(varying))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 3000),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 10_000),
)
def test_sort_keys_sorts_like_numpy(m, fixed, varying, seed) -> None:
    """Radix passes over the varying bytes only: keys sharing any pattern of bits."""
    keys = _patterned(np.random.default_rng(seed), m, fixed, varying, np.uint64)
    got = keys.copy()
    sort_keys(got)
    assert (got == np.sort(keys)).all()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 3000),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 10_000),
)
def test_sort_keys_by_upper_half_is_stable(m, fixed, varying, seed) -> None:
    """Ordered by the upper 32 bits alone, ties kept in their input order (few or many ties,
    below and above the radix cutoff)."""
    rng = np.random.default_rng(seed)
    upper = _patterned(rng, m, fixed, varying, np.uint32).astype(np.uint64)
    keys = (upper << np.uint64(32)) | rng.integers(0, 2**32, size=m, dtype=np.uint64)
    got = keys.copy()
    sort_keys_by_upper_half(got)
    assert (got == keys[np.argsort(upper, kind="stable")]).all()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 600),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**31 - 1),
    st.integers(0, 10_000),
)
def test_sort_lengths_sorts_non_negative_float32_like_numpy(m, fixed, varying, seed) -> None:
    """H0 bar lengths: any non-negative float32 (zeros, subnormals, inf, ties), below and above
    the radix cutoff."""
    values = _patterned(np.random.default_rng(seed), m, fixed, varying, np.uint32).view(np.float32)
    values = np.where(np.isnan(values), np.float32(np.inf), values)
    got = values.copy()
    sort_lengths(got)
    np.testing.assert_array_equal(got, np.sort(values))


def _brute_triangles(dist: np.ndarray, threshold: float) -> dict[int, float]:
    out = {}
    for c, b, a in itertools.combinations(range(dist.shape[0]), 3):
        d = max(dist[a, b], dist[a, c], dist[b, c])
        if d <= threshold:
            out[comb(a, 3) + comb(b, 2) + c] = float(d)
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 20), st.booleans(), st.booleans())
def test_triangle_sweep_assembles_like_the_candidate_scan(seed, n, grid, bounded) -> None:
    """Every triangle once with its diameter; the same columns and apparent pivots.

    (The sweep relies on a property of real pivot maps: no cleared triangle is apparent.)
    """
    dist = pairwise_distances(_cloud(seed, n, grid))
    threshold = np.float32(1.5 if bounded else np.inf)
    edge_d, edge_i, ends, col_pos, binom = _dimension_one_state(dist, threshold)
    order, sorted_dist = neighbour_order(n, edge_d, ends)
    # the pivot map after reducing dimension 1: its pivots clear triangles
    col_d, col_i = edge_d[col_pos], edge_i[col_pos]
    keys, values = pivot_index.new_pivot_index(col_d.shape[0])
    edges = (edge_d, edge_i, ends)
    pivots = classify_edges(dist, sorted_dist, order, binom, threshold, *edges, col_pos)
    columns = set_aside_apparent(col_d, col_i, *pivots, keys, values, True)
    cohomology_args = (dist, sorted_dist, order, binom, 1, threshold)
    buckets = edge_buckets.new_buckets(n, edge_d, ends)
    reduce_coboundary(*cohomology_args, *columns[:2], keys, values, *columns[2:], buckets)
    args = (keys, values, True, True)
    got = triangle_columns(dist, binom, edge_d, edge_i, *args)
    want = assemble_columns(dist, sorted_dist, order, binom, 1, threshold, edge_d, edge_i, *args)
    brute = _brute_triangles(dist, float(threshold))
    assert sorted(got[3].tolist()) == sorted(brute)
    assert dict(zip(got[3].tolist(), got[2].tolist(), strict=True)) == pytest.approx(brute)
    assert sorted(zip(got[0].tolist(), got[1].tolist(), strict=True)) == sorted(
        zip(want[0].tolist(), want[1].tolist(), strict=True)
    )
    got_pivots = {k for k in got[4].tolist() if k != -1}
    want_pivots = {k for k in want[4].tolist() if k != -1}
    assert got_pivots == want_pivots
