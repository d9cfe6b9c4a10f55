"""How much memory one window's Rips computation will plan to use, before it starts.

The counts are exact for an infinite threshold; with a threshold they are upper bounds
computed from vertex degrees (a simplex is counted from each of its vertices).
"""

from __future__ import annotations

import math
from math import comb

import numpy as np

from gpu_tda.exceptions import MemoryBudgetError

_BYTES_PER_EDGE = 100  # edge list, sort keys, columns, pivot map
_BYTES_PER_SIMPLEX = 104  # columns and their sort, pivot map


def simplex_counts(n: int, maxdim: int, degrees: np.ndarray | None = None) -> list[int]:
    """Upper bounds on the number of simplices of dimension 1..maxdim+1 in the filtration."""
    counts = []
    for dim in range(1, maxdim + 2):
        if degrees is None:
            counts.append(comb(n, dim + 1))
        else:
            wedges = sum(comb(int(d), dim) for d in degrees)
            counts.append(min(comb(n, dim + 1), wedges // (dim + 1)))
    return counts


def planned_bytes(n: int, maxdim: int, degrees: np.ndarray | None = None) -> int:
    """Peak bytes the CPU engine plans to hold for one window of n points."""
    if maxdim == 0:
        return 4 * n * n + 16 * n  # distances (or none: Prim from the points) and the tree
    # distances (4 bytes a pair), neighbour order (8) and the edge sweep's adjacency bitsets
    # (a quarter byte a pair per row set, two sets per concurrent chunk)
    total = 16 * n * n
    counts = simplex_counts(n, maxdim, degrees)
    total += _BYTES_PER_EDGE * counts[0]
    for dim in range(2, maxdim + 1):
        total += _BYTES_PER_SIMPLEX * counts[dim - 1]
    return total


def check_budget(n: int, maxdim: int, limit: int | None, degrees: np.ndarray | None = None) -> None:
    """Raise MemoryBudgetError when a window would plan to use more than ``limit`` bytes."""
    if limit is None:
        return
    need = planned_bytes(n, maxdim, degrees)
    if need > limit:
        raise MemoryBudgetError(
            f"a window of {n} points at maxdim={maxdim} needs about {need / 2**30:.2f} GiB, "
            f"over the memory limit of {limit / 2**30:.2f} GiB; lower maxdim, set a threshold, "
            "use fewer points, or raise memory_limit"
        )


def check_window_budget(
    cloud: np.ndarray, maxdim: int, thr32: np.float32, distance_matrix: bool, limit: int | None
) -> None:
    """check_budget for one validated window; with a finite threshold, a window refused on the
    full simplex counts is measured again from its vertex degrees before it is refused."""
    n = cloud.shape[0]
    try:
        check_budget(n, maxdim, limit)
    except MemoryError:
        if math.isinf(thr32) or limit is None or 4 * n * n > limit:
            raise
        # a threshold may make the complex much smaller: count degrees and check again
        if distance_matrix:
            within = cloud <= thr32
        else:
            sq = np.einsum("ij,ij->i", cloud, cloud)
            within = sq[:, None] + sq[None, :] - 2 * cloud @ cloud.T <= float(thr32) ** 2 * (
                1 + 1e-6
            )
        degrees = within.sum(axis=1) - 1
        check_budget(n, maxdim, limit, degrees)
