"""Edges in filtration order on the device, and the union-find that pairs them in dimension 0.

Each window's edges (i > j) within its threshold get one uint64 key: the float32 bits of the
length (non-negative, so they sort like the values) above the complement of ``i << 16 | j``.
Sorting the keys ascending gives the CPU kernels' filtration order (length ascending, ties by
combinatorial index C(i, 2) + j descending, which orders edges like (i, j) does). Edges over the
threshold get the largest key, ``ABSENT``, and sort last.

The union-find walks each window's sorted edges on one thread and marks the tree edges; every
other edge within the threshold is a dimension-1 column, exactly as ``h0.h0_kruskal`` finds them.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from gpu_tda import device

cuda = device.numba_cuda()

MAX_VERTICES = 1 << 16
"""Largest window whose vertex pairs fit the key's low 32 bits."""

MAX_BATCH = 65535
"""Most windows per launch of the edge kernels: the window is the grid's y index, whose largest
extent CUDA caps at 65,535."""

ABSENT = np.uint64(0xFFFFFFFFFFFFFFFF)
"""Key of an edge over the threshold (never a valid key: no float32 length has those bits)."""

TREE = np.uint8(1)
"""Edge state: paired with a vertex in dimension 0 (a minimum spanning forest edge)."""

_LOW32 = np.uint64(0xFFFFFFFF)
_LOW16 = np.uint64(0xFFFF)
_SHIFT16 = np.uint64(16)
_SHIFT32 = np.uint64(32)


@cuda.jit(device=True, inline=True)
def edge_of_key(key):
    """(i, j), i > j, of a valid edge key."""
    pair = (key & _LOW32) ^ _LOW32
    return nb.int32(pair >> _SHIFT16), nb.int32(pair & _LOW16)


@cuda.jit
def _keys_kernel(dist, bits, thresholds, keys):
    # grid: (row blocks, windows); threads stride over a row's columns j < i
    b = cuda.blockIdx.y
    n = dist.shape[1]
    threshold = thresholds[b]
    for i in range(cuda.blockIdx.x + 1, n, cuda.gridDim.x):
        base = i * (i - 1) // 2
        high = np.uint64(i) << _SHIFT16
        for j in range(cuda.threadIdx.x, i, cuda.blockDim.x):
            if dist[b, i, j] <= threshold:
                pair = high | np.uint64(j)
                keys[b, base + j] = (np.uint64(bits[b, i, j]) << _SHIFT32) | (_LOW32 ^ pair)
            else:
                keys[b, base + j] = ABSENT


@cuda.jit(device=True, inline=True)
def _find(parent, b, x):
    while parent[b, x] != x:  # path halving
        up = parent[b, parent[b, x]]
        parent[b, x] = up
        x = up
    return x


@cuda.jit
def _union_find_kernel(dist, keys, parent, state, weights, components):
    b = cuda.grid(1)
    if b >= keys.shape[0]:
        return
    n = parent.shape[1]
    for v in range(n):
        parent[b, v] = v
    merged = 0
    p = 0
    while p < keys.shape[1] and merged < n - 1:
        key = keys[b, p]
        if key == ABSENT:
            break
        i, j = edge_of_key(key)
        ri = _find(parent, b, i)
        rj = _find(parent, b, j)
        if ri != rj:
            parent[b, ri] = rj
            state[b, p] = TREE
            weights[b, merged] = dist[b, i, j]
            merged += 1
        p += 1
    components[b] = n - merged


def decode_keys(keys: Any) -> tuple[Any, Any]:
    """(lengths float32, edge indices C(i, 2) + j int64) of valid keys (numpy or CuPy)."""
    pair = (keys & _LOW32) ^ _LOW32
    i = (pair >> _SHIFT16).astype(np.int64)
    j = (pair & _LOW16).astype(np.int64)
    lengths = (keys >> _SHIFT32).astype(np.uint32).view(np.float32)
    return lengths, i * (i - 1) // 2 + j


def enclosing_thresholds(dist: Any, threshold: float) -> Any:
    """Per window (B,) float32: min(threshold, min over vertices of the farthest distance).

    From that radius on, one vertex is joined to every other, so the complex is a cone: no class
    of dimension >= 1 is born or outlives it, and edges beyond it change no diagram.
    """
    xp = device.array_module()
    radius = dist.max(axis=2).min(axis=1)
    return xp.minimum(radius, np.float32(threshold)).astype(np.float32)


def sorted_edge_keys(dist: Any, thresholds: Any, row_blocks: int = 64, threads: int = 128) -> Any:
    """(B, n(n-1)/2) uint64 device array: each window's edge keys in filtration order.

    ``dist`` is (B, n, n) float32 on the device, ``thresholds`` (B,) float32; n must be at most
    ``MAX_VERTICES``. Each window gets ``row_blocks`` blocks of ``threads`` threads.
    """
    xp = device.array_module()
    batch, n, _ = dist.shape
    if n > MAX_VERTICES:
        raise ValueError(f"edge keys need n <= {MAX_VERTICES}, got {n}")
    check_batch(batch)
    keys = xp.empty((batch, n * (n - 1) // 2), dtype=np.uint64)
    if keys.size == 0:
        return keys
    grid = (min(row_blocks, n - 1), batch)
    _keys_kernel[grid, threads](dist, dist.view(np.uint32), thresholds, keys)
    return xp.sort(keys, axis=1)


def check_batch(batch: int) -> None:
    """ValueError when ``batch`` windows exceed one launch's grid (``MAX_BATCH``)."""
    if batch > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} windows per launch, got {batch}: split the batch")


def union_find(dist: Any, keys: Any, threads: int = 32) -> tuple[Any, Any, Any]:
    """Dimension 0 from sorted edge keys: (state, weights, components), device arrays.

    ``state`` (B, m) uint8 is ``TREE`` at the tree edges' positions and 0 elsewhere; weights
    (B, n) float32 holds each window's tree edge lengths sorted ascending after zeros, and
    components (B,) int32 its number of essential bars (the layout of ``cuda_h0.batched_h0``).
    """
    xp = device.array_module()
    batch, n, _ = dist.shape
    state = xp.zeros(keys.shape, dtype=np.uint8)
    weights = xp.zeros((batch, n), dtype=np.float32)
    components = xp.zeros(batch, dtype=np.int32)
    if batch == 0 or n == 0:
        return state, weights, components
    parent = xp.empty((batch, n), dtype=np.int32)
    blocks = (batch + threads - 1) // threads
    _union_find_kernel[blocks, threads](dist, keys, parent, state, weights, components)
    return state, xp.sort(weights, axis=1), components
