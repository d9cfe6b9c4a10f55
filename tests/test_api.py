"""The public API's contract: batches, backends, bad input and the memory bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpu_tda
from gpu_tda import device
from tests.diagram_oracle import assert_same_diagrams


def noisy_circle(rng: np.random.Generator, n: int) -> np.ndarray:
    t = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([np.cos(t), np.sin(t)]) + rng.normal(scale=0.1, size=(n, 2))


@pytest.mark.parametrize("maxdim", [0, 1, 2])
def test_ragged_batch_equals_singles(maxdim: int) -> None:
    rng = np.random.default_rng(7)
    sizes = [0, 1, 2, 5, 40, 17, 33, 3, 25, 40]
    Xs = [noisy_circle(rng, n) for n in sizes]
    Xs[4] = Xs[4][:, :1]  # a 1-D window beside 2-D ones
    batch = gpu_tda.persistence_batch(Xs, maxdim=maxdim, backend="cpu")
    assert len(batch) == len(Xs)
    for X, got in zip(Xs, batch, strict=True):
        want = gpu_tda.persistence(X, maxdim=maxdim, backend="cpu")
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def test_array_batch_and_threshold() -> None:
    rng = np.random.default_rng(3)
    Xs = np.stack([noisy_circle(rng, 30) for _ in range(6)])
    batch = gpu_tda.persistence_batch(Xs, maxdim=1, threshold=0.8, backend="cpu")
    for X, got in zip(Xs, batch, strict=True):
        assert_same_diagrams(got, gpu_tda.persistence(X, maxdim=1, threshold=0.8, backend="cpu"))


def test_empty_batch() -> None:
    assert gpu_tda.persistence_batch([], maxdim=1, backend="cpu") == []


def test_auto_backend_is_cpu_without_gpu() -> None:
    if device.gpu_unavailable_reason() is not None:
        assert gpu_tda.available_backends() == ["cpu"]
    X = np.random.default_rng(0).normal(size=(10, 2))
    auto = gpu_tda.persistence(X, backend="auto")
    assert_same_diagrams(auto, gpu_tda.persistence(X, backend="cpu"))


@pytest.mark.skipif(device.gpu_unavailable_reason() is None, reason="a GPU backend is usable here")
def test_gpu_backend_without_gpu_raises_clear_error() -> None:
    with pytest.raises(gpu_tda.BackendUnavailableError, match="backend='gpu' is not usable"):
        gpu_tda.persistence(np.zeros((3, 2)), backend="gpu")


@pytest.mark.parametrize(
    ("X", "kwargs", "message"),
    [
        (np.array([[0.0, np.nan]]), {}, "NaN or inf"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), {}, "NaN or inf"),
        (np.zeros(5), {}, "2-D"),
        (np.zeros((2, 2, 2)), {}, "2-D"),
        (np.array([["a", "b"]]), {}, "numeric"),
        (np.zeros((3, 2)), {"maxdim": -1}, "maxdim"),
        (np.zeros((3, 2)), {"maxdim": 4}, "maxdim"),
        (np.zeros((3, 2)), {"maxdim": 1.5}, "maxdim"),
        (np.zeros((3, 2)), {"threshold": -1.0}, "threshold"),
        (np.zeros((3, 2)), {"threshold": float("nan")}, "threshold"),
        (np.zeros((3, 2)), {"backend": "tpu"}, "backend"),
        (np.zeros((2, 3)), {"distance_matrix": True}, "square"),
        (np.array([[0.0, 1.0], [2.0, 0.0]]), {"distance_matrix": True}, "not symmetric"),
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), {"distance_matrix": True}, "negative"),
        (np.array([[1.0, 1.0], [1.0, 0.0]]), {"distance_matrix": True}, "zero diagonal"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), {"distance_matrix": True}, "NaN"),
    ],
)
def test_bad_input_raises_value_error(X: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gpu_tda.persistence(X, **{"backend": "cpu", **kwargs})


def test_bad_batch_names_the_window() -> None:
    good = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"Xs\[1\]"):
        gpu_tda.persistence_batch([good, np.array([[np.nan, 0.0]])], backend="cpu")
    stacked = np.zeros((4, 3, 2))  # one array, and windows of one shape, are checked at once
    stacked[2, 1, 0] = np.inf
    for batch in (stacked, list(stacked)):
        with pytest.raises(ValueError, match=r"Xs\[2\] contains NaN or inf \(first at row 1"):
            gpu_tda.persistence_batch(batch, backend="cpu")
    with pytest.raises(ValueError, match="numeric"):
        gpu_tda.persistence_batch(np.zeros((2, 3, 2), dtype=bool), backend="cpu")
    square = np.array([[[0, 1, 2], [1, 0, 1], [2, 1, 0]]] * 2, dtype=float)
    with pytest.warns(UserWarning, match=r"Xs\[0\] is square"):
        gpu_tda.persistence_batch(square, backend="cpu")


def test_infinite_distances_mean_missing_edges() -> None:
    dm = np.array([[0, 1, np.inf], [1, 0, np.inf], [np.inf, np.inf, 0]], dtype=float)
    h0 = gpu_tda.persistence(dm, maxdim=1, distance_matrix=True, backend="cpu")[0]
    np.testing.assert_array_equal(h0, [[0.0, 1.0], [0.0, math.inf], [0.0, math.inf]])


def test_square_points_warn_about_distance_matrix() -> None:
    dm = np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], dtype=float)
    with pytest.warns(UserWarning, match="distance_matrix=True"):
        gpu_tda.persistence(dm, backend="cpu")


def test_memory_bound_fails_fast_with_clear_error() -> None:
    X = np.random.default_rng(0).normal(size=(3000, 3))
    with pytest.raises(gpu_tda.MemoryBudgetError, match="memory limit"):
        gpu_tda.persistence(X, maxdim=3, backend="cpu")
    with pytest.raises(gpu_tda.MemoryBudgetError, match="raise memory_limit"):
        gpu_tda.persistence(X[:200], maxdim=2, backend="cpu", memory_limit=10_000_000)


def test_threshold_shrinks_the_memory_estimate() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(400, 2))
    limit = 200_000_000  # too small for all C(400, 3) triangles, enough within a short radius
    with pytest.raises(gpu_tda.MemoryBudgetError):
        gpu_tda.persistence(X, maxdim=2, backend="cpu", memory_limit=limit)
    dgms = gpu_tda.persistence(X, maxdim=2, threshold=0.05, backend="cpu", memory_limit=limit)
    assert len(dgms) == 3
