"""gpu_tda.persistence (CPU backend) equals ripser.py on random and degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gpu_tda
from tests.diagram_oracle import assert_same_diagrams, ripser_diagrams

pytestmark = pytest.mark.filterwarnings("ignore:.*did you mean distance_matrix")

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def clouds(draw, max_n: int = 60, max_d: int = 4) -> np.ndarray:
    """Random clouds, often with ties: small-integer grids, rounded values, repeated points."""
    n = draw(st.integers(0, max_n))
    d = draw(st.integers(1, max_d))
    style = draw(st.sampled_from(["float", "grid", "rounded", "collinear", "duplicates"]))
    if style == "grid":
        return draw(arrays(np.float64, (n, d), elements=st.integers(-2, 2).map(float)))
    pts = draw(arrays(np.float64, (n, d), elements=st.floats(-10, 10, width=32)))
    if style == "rounded":
        return np.round(pts, 0)
    if style == "collinear" and n:
        return np.outer(pts[:, 0], np.arange(1, d + 1, dtype=np.float64))
    if style == "duplicates" and n:
        return pts[np.arange(n) % max(1, n // 3)]
    return pts


thresholds = st.one_of(st.just(math.inf), st.floats(0.0, 12.0))


@PROPERTY
@given(X=clouds(), maxdim=st.integers(0, 2), threshold=thresholds)
def test_random_clouds_match_ripser(X: np.ndarray, maxdim: int, threshold: float) -> None:
    ours = gpu_tda.persistence(X, maxdim=maxdim, threshold=threshold, backend="cpu")
    assert_same_diagrams(ours, ripser_diagrams(X, maxdim, threshold))


@settings(max_examples=40, deadline=None)
@given(X=clouds(max_n=14, max_d=3), threshold=thresholds)
def test_dimension_three_matches_ripser(X: np.ndarray, threshold: float) -> None:
    ours = gpu_tda.persistence(X, maxdim=3, threshold=threshold, backend="cpu")
    assert_same_diagrams(ours, ripser_diagrams(X, 3, threshold))


@PROPERTY
@given(X=clouds(max_n=30), maxdim=st.integers(0, 2), threshold=thresholds)
def test_distance_matrix_input_matches_points(X: np.ndarray, maxdim: int, threshold: float) -> None:
    diff = X[:, None, :] - X[None, :, :]
    dm = np.sqrt((diff**2).sum(-1))
    by_points = gpu_tda.persistence(X, maxdim=maxdim, threshold=threshold, backend="cpu")
    by_matrix = gpu_tda.persistence(
        dm, maxdim=maxdim, threshold=threshold, distance_matrix=True, backend="cpu"
    )
    assert_same_diagrams(by_matrix, by_points)
    assert_same_diagrams(by_matrix, ripser_diagrams(dm, maxdim, threshold, distance_matrix=True))


def regular_polygon(k: int) -> np.ndarray:
    t = 2 * np.pi * np.arange(k) / k
    return np.column_stack([np.cos(t), np.sin(t)])


DEGENERATE = {
    "n0": np.empty((0, 2)),
    "n1": np.array([[1.0, 2.0]]),
    "n2": np.array([[0.0, 0.0], [3.0, 4.0]]),
    "n2_same": np.array([[1.0, 1.0], [1.0, 1.0]]),
    "all_duplicates": np.ones((12, 3)),
    "duplicated_square": np.repeat(np.array([[0, 0], [0, 1], [1, 1], [1, 0]], float), 3, axis=0),
    "integer_grid": np.array([[i, j] for i in range(5) for j in range(5)], float),
    "cube_corners": np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float),
    "octahedron": np.vstack([np.eye(3), -np.eye(3)]),
    "hexagon": regular_polygon(6),
    "polygon_17": regular_polygon(17),
    "collinear": np.column_stack([np.arange(10.0), 2 * np.arange(10.0)]),
    "one_dimensional": np.array([[0.0], [1.0], [3.0], [3.0], [7.0], [12.0]]),
    "large_coordinates": 1e6 + regular_polygon(8) * 10,
    "float32_input": regular_polygon(9).astype(np.float32),
    "integer_dtype": np.array([[0, 0], [0, 2], [2, 2], [2, 0], [1, 5]], dtype=np.int64),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
@pytest.mark.parametrize("maxdim", [0, 1, 2, 3])
def test_degenerate_inputs_match_ripser(name: str, maxdim: int) -> None:
    X = DEGENERATE[name]
    ours = gpu_tda.persistence(X, maxdim=maxdim, backend="cpu")
    assert len(ours) == maxdim + 1
    assert_same_diagrams(ours, ripser_diagrams(X, maxdim))


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0, 1.5, 2.0])
def test_thresholds_on_ties(threshold: float) -> None:
    X = DEGENERATE["integer_grid"]
    ours = gpu_tda.persistence(X, maxdim=2, threshold=threshold, backend="cpu")
    assert_same_diagrams(ours, ripser_diagrams(X, 2, threshold))


def test_hexagon_has_the_known_h1_bar() -> None:
    h1 = gpu_tda.persistence(regular_polygon(6), maxdim=1, backend="cpu")[1]
    np.testing.assert_allclose(h1, [[1.0, np.sqrt(3.0)]], rtol=1e-6)


def test_output_convention() -> None:
    dgms = gpu_tda.persistence(regular_polygon(12), maxdim=2, backend="cpu")
    assert len(dgms) == 3
    for dgm in dgms:
        assert dgm.dtype == np.float64 and dgm.ndim == 2 and dgm.shape[1] == 2
        assert np.all(dgm[:, 1] > dgm[:, 0])
    assert np.isinf(dgms[0][:, 1]).sum() == 1
    assert np.all(dgms[0][:, 0] == 0)


def test_wide_simplex_indices_match_ripser() -> None:
    """n >= 204 at H3 makes cofacet indices exceed 32 bits: the unpacked working heap."""
    rng = np.random.default_rng(11)
    X = rng.uniform(size=(230, 3))
    ours = gpu_tda.persistence(X, maxdim=3, threshold=0.28, backend="cpu")
    assert_same_diagrams(ours, ripser_diagrams(X, 3, 0.28))
    assert len(ours[1]) > 0 and len(ours[2]) > 0
