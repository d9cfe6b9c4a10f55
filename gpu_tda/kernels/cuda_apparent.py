"""Dimension-1 columns on the device: each edge's unreduced pivot, and which are apparent pairs.

For every edge within the threshold that the spanning forest left unpaired (a column), one thread
does what ``cohomology.classify_columns`` does for dim 1, by plain scans of the two rows:

* the zero-pivot vertex: the largest vertex v within the edge's length d of both ends; the
  triangle adding it is the earliest cofacet, of diameter d;
* else the earliest cofacet within the threshold: smallest diameter, ties to the largest v;
* apparent: the zero-pivot triangle's latest facet of diameter d is the edge itself, i.e. no
  facet dropping a vertex larger than v keeps the length d (``coboundary.is_apparent``).

Columns in apparent pairs need no reduction; the rest are gathered, in reverse filtration order,
for the CPU reduction (``cohomology.reduce_coboundary``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numba as nb
import numpy as np

from gpu_tda import device
from gpu_tda.kernels.cuda_edges import ABSENT, TREE, check_batch, decode_keys, edge_of_key

cuda = device.numba_cuda()

APPARENT = np.uint8(2)
"""Edge state: a column in an apparent pair (set aside)."""
COLUMN = np.uint8(3)
"""Edge state: a column to reduce."""


@dataclasses.dataclass(frozen=True)
class EdgeColumns:
    """The columns left to reduce, on the host, window after window.

    Window w's columns are ``[starts[w], starts[w + 1])`` of the other arrays, in reverse
    filtration order: (length, edge index C(i, 2) + j) and the unreduced pivot (diameter,
    triangle index, or -1 with diameter inf when no cofacet is within the threshold).
    """

    starts: np.ndarray
    col_d: np.ndarray
    col_i: np.ndarray
    pivot_d: np.ndarray
    pivot_i: np.ndarray


@cuda.jit(device=True, inline=True)
def _triangle_index(a, b, c):
    """Combinatorial index of the triangle {a, b, c} (distinct vertices, any order)."""
    a = nb.int64(a)
    b = nb.int64(b)
    c = nb.int64(c)
    if a < b:
        a, b = b, a
    if b < c:
        b, c = c, b
        if a < b:
            a, b = b, a
    return a * (a - 1) * (a - 2) // 6 + b * (b - 1) // 2 + c


@cuda.jit
def _classify_kernel(dist, keys, thresholds, state, pivot_d, pivot_i):
    # grid: (column blocks, windows); neighbouring threads take neighbouring sorted edges
    b = cuda.blockIdx.y
    n = dist.shape[1]
    threshold = thresholds[b]
    step = cuda.gridDim.x * cuda.blockDim.x
    for p in range(cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x, keys.shape[1], step):
        key = keys[b, p]
        if key == ABSENT:
            return  # keys are sorted: the rest are absent too
        if state[b, p] == TREE:
            continue
        i, j = edge_of_key(key)
        d = dist[b, i, j]
        v = -1
        for u in range(n - 1, -1, -1):
            if u != i and u != j and dist[b, i, u] <= d and dist[b, j, u] <= d:
                v = u
                break
        kind = COLUMN
        if v != -1:
            pd = d
            if not ((i > v and dist[b, j, v] == d) or (j > v and dist[b, i, v] == d)):
                kind = APPARENT
        else:
            pd = np.float32(np.inf)
            for u in range(n):
                if u != i and u != j:
                    cd = d
                    if dist[b, i, u] > cd:
                        cd = dist[b, i, u]
                    if dist[b, j, u] > cd:
                        cd = dist[b, j, u]
                    if cd <= pd and cd <= threshold:
                        pd = cd
                        v = u
        state[b, p] = kind
        pivot_d[b, p] = pd
        pivot_i[b, p] = -1 if v == -1 else _triangle_index(i, j, v)


def classify_columns(
    dist: Any, keys: Any, thresholds: Any, state: Any, threads: int = 128, per_thread: int = 8
) -> tuple[Any, Any]:
    """Pivots of every column, and state set to ``APPARENT`` or ``COLUMN``: device arrays.

    ``keys`` and ``state`` come from ``cuda_edges`` (sorted keys, spanning forest); returns
    (pivot_d (B, m) float32, pivot_i (B, m) int64), meaningful where state is ``COLUMN``.
    Each window gets blocks of ``threads`` threads, about ``per_thread`` edges each.
    """
    xp = device.array_module()
    batch, m = keys.shape
    check_batch(batch)
    pivot_d = xp.empty((batch, m), dtype=np.float32)
    pivot_i = xp.empty((batch, m), dtype=np.int64)
    if batch and m:
        blocks = max(1, -(-m // (threads * per_thread)))
        _classify_kernel[(blocks, batch), threads](dist, keys, thresholds, state, pivot_d, pivot_i)
    return pivot_d, pivot_i


def gather_columns(keys: Any, state: Any, pivot_d: Any, pivot_i: Any) -> EdgeColumns:
    """The ``COLUMN`` entries of every window, copied to the host in reverse filtration order."""
    xp = device.array_module()
    batch, m = keys.shape
    mask = state[:, ::-1] == COLUMN  # per window, last position first
    rows, flipped = xp.nonzero(mask)
    pos = m - 1 - flipped
    starts = np.zeros(batch + 1, dtype=np.int64)
    np.cumsum(device.to_host(mask.sum(axis=1)), out=starts[1:])
    col_d, col_i = decode_keys(device.to_host(keys[rows, pos]))
    return EdgeColumns(
        starts=starts,
        col_d=col_d,
        col_i=col_i,
        pivot_d=device.to_host(pivot_d[rows, pos]),
        pivot_i=device.to_host(pivot_i[rows, pos]),
    )
