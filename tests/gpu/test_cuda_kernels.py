"""The CUDA kernels (distances, H0) under the simulator, against the CPU kernels and ripser."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_tda.kernels.cuda_distances import batched_distances
from gpu_tda.kernels.cuda_h0 import batched_h0, threads_for
from gpu_tda.kernels.distances import pairwise_distances
from gpu_tda.kernels.h0 import h0_prim
from tests.diagram_oracle import assert_same_diagrams, ripser_diagrams

pytestmark = pytest.mark.gpu_sim


def _device_distances(points: np.ndarray) -> np.ndarray:
    out = np.empty((points.shape[0], points.shape[1], points.shape[1]), np.float32)
    return batched_distances(points, out, tile=4, max_tiles=2)


def test_distances_bit_identical_to_cpu_kernel(rng):
    points = rng.normal(size=(3, 13, 4)) * np.array([1.0, 1e3, 1e-3, 1e6])
    dist = _device_distances(points)
    for b in range(points.shape[0]):
        assert np.array_equal(dist[b], pairwise_distances(points[b]))
    assert np.all(np.diagonal(dist, axis1=1, axis2=2) == 0)


def test_distances_of_duplicates_are_exactly_zero():
    points = np.array([[[0.1, 0.2], [0.1, 0.2], [0.3, -0.7]]])
    dist = _device_distances(points)
    assert dist[0, 0, 1] == 0.0 and dist[0, 1, 0] == 0.0
    assert dist[0, 0, 2] == np.float32(np.hypot(0.2, 0.9))


@pytest.mark.parametrize("threshold", [np.inf, 0.6])
def test_h0_matches_cpu_prim_and_ripser(make_clouds, threshold):
    points = np.stack(make_clouds([14, 14, 14]))
    dist = _device_distances(points)
    weights, components = batched_h0(dist, threshold, max_threads=4)
    assert weights.dtype == np.float32 and components.dtype == np.int32
    for b in range(points.shape[0]):
        deaths, count = h0_prim(dist[b], np.float32(threshold))
        assert np.all(np.diff(weights[b]) >= 0)
        assert np.array_equal(weights[b][weights[b] > 0], np.sort(deaths))
        assert components[b] == count
        bars = np.column_stack(
            (
                np.zeros(count + len(deaths)),
                np.concatenate((np.sort(deaths), np.full(count, np.inf))),
            )
        )
        assert_same_diagrams([bars], ripser_diagrams(points[b], 0, threshold))


def test_h0_counts_every_component_of_a_disconnected_cloud():
    cluster = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1]])
    points = np.concatenate([cluster + shift for shift in (0.0, 10.0, 20.0)])[None]
    weights, components = batched_h0(_device_distances(points), 1.0, max_threads=2)
    assert components[0] == 3
    assert np.count_nonzero(weights[0]) == 6


def test_h0_of_ties_and_duplicates(make_clouds):
    grid = make_clouds([9], kind="grid")[0]
    points = np.stack([grid, np.concatenate([grid[:5], grid[:4]])])
    dist = _device_distances(points)
    weights, components = batched_h0(dist, np.inf, max_threads=8)
    assert np.array_equal(weights[0][weights[0] > 0], np.ones(8, np.float32))
    assert np.count_nonzero(weights[1]) == 4  # 4 duplicates die at 0: dropped
    assert list(components) == [1, 1]


def test_threads_for_is_a_power_of_two_covering_n():
    assert [threads_for(n, 256) for n in (1, 2, 3, 24, 256, 5000)] == [1, 2, 4, 32, 256, 256]
    with pytest.raises(ValueError):
        threads_for(10, 48)
