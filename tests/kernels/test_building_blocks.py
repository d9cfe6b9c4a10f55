"""The small kernels the cohomology reduction stands on, checked against plain Python."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.kernels import pivot_index, working_column
from gpu_tda.kernels.combinatorics import binomial_table, simplex_vertices
from gpu_tda.kernels.distances import pairwise_distances
from gpu_tda.kernels.filtration_order import sort_simplices
from gpu_tda.kernels.h0 import edge_vertices


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


def test_pairwise_distances_are_float64_sums_rounded_to_float32() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3)) * 1e3 + 1e6
    X[5] = X[3]
    D = pairwise_distances(X)
    want = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)).astype(np.float32)
    assert D.dtype == np.float32
    np.testing.assert_array_equal(D, want)
    assert D[5, 3] == 0.0
