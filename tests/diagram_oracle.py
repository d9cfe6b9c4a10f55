"""ripser.py as the test oracle, and a float32-tolerant comparison of persistence diagrams."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

BIG = 1e30


def ripser_diagrams(
    X: np.ndarray, maxdim: int, threshold: float = np.inf, distance_matrix: bool = False
) -> list[np.ndarray]:
    """ripser.py's diagrams, fed exact float64 distances (ripser rounds them to float32)."""
    import ripser

    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n == 0:
        return [np.empty((0, 2)) for _ in range(maxdim + 1)]
    dm = X if distance_matrix else cdist(X, X)
    return ripser.ripser(dm, maxdim=maxdim, thresh=threshold, distance_matrix=True)["dgms"]


def diagram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest cost in a min-sum matching of two diagrams (bars may match the diagonal)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    m, k = len(a), len(b)
    if m + k == 0:
        return 0.0
    cost = np.zeros((m + k, k + m))
    for i in range(m):
        for j in range(k):
            cost[i, j] = _bar_cost(a[i], b[j])
        cost[i, k:] = _half_length(a[i])
    for j in range(k):
        cost[m:, j] = _half_length(b[j])
    rows, cols = linear_sum_assignment(np.minimum(cost, BIG))
    return float(cost[rows, cols].max())


def assert_same_diagrams(
    ours: list[np.ndarray], theirs: list[np.ndarray], rtol: float = 2e-6
) -> None:
    """Same number of dimensions and, per dimension, the same multiset of bars."""
    assert len(ours) == len(theirs), f"{len(ours)} dimensions vs {len(theirs)}"
    scale = max([1.0] + [float(np.abs(d[np.isfinite(d)]).max(initial=0)) for d in theirs])
    for dim, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        a = np.asarray(a)
        assert a.dtype == np.float64 and a.ndim == 2 and a.shape[1] == 2, (dim, a.dtype, a.shape)
        assert np.isinf(a[:, 1]).sum() == np.isinf(np.asarray(b)[:, 1]).sum(), (
            f"H{dim}: essential bars differ\nours={a}\ntheirs={b}"
        )
        gap = diagram_distance(a, b)
        assert gap <= rtol * scale, f"H{dim}: diagrams differ by {gap}\nours={a}\ntheirs={b}"


def assert_identical_results(ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]]) -> None:
    """Two backends' results are the same to the bit: per window, per dimension, float64
    (k, 2) arrays in the same order."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert x.dtype == np.float64 and x.shape[1:] == (2,)
            assert np.array_equal(x, y), (x, y)


def _bar_cost(p: np.ndarray, q: np.ndarray) -> float:
    if np.isinf(p[1]) != np.isinf(q[1]):
        return BIG
    death = 0.0 if np.isinf(p[1]) else abs(p[1] - q[1])
    return max(abs(p[0] - q[0]), death)


def _half_length(p: np.ndarray) -> float:
    return BIG if np.isinf(p[1]) else (p[1] - p[0]) / 2
