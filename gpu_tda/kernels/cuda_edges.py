"""Edges in filtration order on the device, and the spanning forest that pairs them in dimension 0.

Each window's edges (i > j) within its threshold get one uint64 key: the float32 bits of the
length (non-negative, so they sort like the values) above the complement of ``i << 16 | j``.
Sorting the keys ascending gives the CPU kernels' filtration order (length ascending, ties by
combinatorial index C(i, 2) + j descending, which orders edges like (i, j) does). Edges over the
threshold get the largest key, ``ABSENT``, and sort last.

The keys order a window's edges strictly, so its minimum spanning forest is unique: one block per
window grows it by Prim's algorithm, comparing keys, and marks the tree edges in the sorted keys.
They are the edges a union-find over the sorted keys keeps, and every other edge within the
threshold is a dimension-1 column, exactly as ``h0.h0_kruskal`` finds them.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from gpu_tda import device
from gpu_tda.kernels.cuda_h0 import MAX_THREADS, block_min, threads_for

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

_JOINED = np.uint64(0)
"""A vertex's best key once it is in the forest (never a valid key: its low 32 bits are not 0)."""

_LOW32 = np.uint64(0xFFFFFFFF)
_LOW16 = np.uint64(0xFFFF)
_SHIFT16 = np.uint64(16)
_SHIFT32 = np.uint64(32)


@cuda.jit(device=True, inline=True)
def edge_of_key(key):
    """(i, j), i > j, of a valid edge key."""
    pair = (key & _LOW32) ^ _LOW32
    return nb.int32(pair >> _SHIFT16), nb.int32(pair & _LOW16)


@cuda.jit(device=True, inline=True)
def _key_of_edge(length_bits, i, j):
    """The key of edge (i, j), i > j, whose length has the float32 bits ``length_bits``."""
    pair = (np.uint64(i) << _SHIFT16) | np.uint64(j)
    return (np.uint64(length_bits) << _SHIFT32) | (_LOW32 ^ pair)


@cuda.jit
def _keys_kernel(dist, bits, thresholds, keys):
    # grid: (row blocks, windows); threads stride over a row's columns j < i
    b = cuda.blockIdx.y
    n = dist.shape[1]
    threshold = thresholds[b]
    for i in range(cuda.blockIdx.x + 1, n, cuda.gridDim.x):
        base = i * (i - 1) // 2
        for j in range(cuda.threadIdx.x, i, cuda.blockDim.x):
            if dist[b, i, j] <= threshold:
                keys[b, base + j] = _key_of_edge(bits[b, i, j], i, j)
            else:
                keys[b, base + j] = ABSENT


@cuda.jit(device=True, inline=True)
def _position(keys, b, key):
    """Where ``key``, one of window b's valid keys, lies in its sorted ``keys[b]``."""
    lo = 0
    hi = keys.shape[1]
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[b, mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@cuda.jit
def _spanning_forest_kernel(dist, bits, thresholds, keys, best, tree, state, weights, components):
    # grid: one block per window; thread t owns vertices t, t + nt, ...: only it touches their
    # best keys (the smallest key of an edge to the forest), so best needs no synchronisation
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n = dist.shape[1]
    threshold = thresholds[b]
    s_key = cuda.shared.array(MAX_THREADS, nb.uint64)
    s_idx = cuda.shared.array(MAX_THREADS, nb.int32)
    for u in range(t, n, nt):
        best[b, u] = ABSENT
    low_key = ABSENT  # this thread's smallest (key, vertex) outside the forest; vertex n: none
    low_v = t if t < n else n
    n_comp = 0
    for it in range(n):
        s_key[t] = low_key
        s_idx[t] = low_v
        key, v = block_min(s_key, s_idx, n)  # ABSENT: v is the first vertex of a new component
        if t == 0:
            tree[b, it] = key
            if key == ABSENT:
                n_comp += 1
        low_key = ABSENT
        low_v = n
        for u in range(t, n, nt):
            ku = best[b, u]
            if ku == _JOINED:
                continue
            if u == v:
                best[b, u] = _JOINED
                continue
            i = max(u, v)
            j = min(u, v)
            if dist[b, i, j] <= threshold:
                kv = _key_of_edge(bits[b, i, j], i, j)
                if kv < ku:
                    ku = kv
                    best[b, u] = kv
            if low_v == n or ku < low_key:
                low_key = ku
                low_v = u
    cuda.syncthreads()  # thread 0's tree keys are visible to the block
    if t == 0:
        components[b] = n_comp
    for it in range(t, n, nt):
        key = tree[b, it]
        if key != ABSENT:
            i, j = edge_of_key(key)
            weights[b, it] = dist[b, i, j]
            state[b, _position(keys, b, key)] = TREE


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


def spanning_forest(
    dist: Any, thresholds: Any, keys: Any, max_threads: int = MAX_THREADS
) -> tuple[Any, Any, Any]:
    """Dimension 0 from the minimum spanning forest: (state, weights, components), device arrays.

    ``keys`` are ``sorted_edge_keys(dist, thresholds)``. ``state`` (B, m) uint8 is ``TREE`` at
    the tree edges' positions and 0 elsewhere; weights (B, n) float32 holds each window's tree
    edge lengths sorted ascending after zeros, and components (B,) int32 its number of
    essential bars (the layout of ``cuda_h0.batched_h0``). One block per window runs Prim's
    algorithm on keys computed from ``dist`` as ``sorted_edge_keys`` does, so it needs no
    sequential walk of the edges: n rounds, each n / threads vertices per thread and a block-wide
    minimum. The block is the smallest power of two covering n, at most ``max_threads`` (a power
    of two <= ``cuda_h0.MAX_THREADS``).
    """
    xp = device.array_module()
    batch, n, _ = dist.shape
    threads = threads_for(n, max_threads)
    state = xp.zeros(keys.shape, dtype=np.uint8)
    weights = xp.zeros((batch, n), dtype=np.float32)
    components = xp.zeros(batch, dtype=np.int32)
    if batch == 0 or n == 0:
        return state, weights, components
    best = xp.empty((batch, n), dtype=np.uint64)
    tree = xp.empty((batch, n), dtype=np.uint64)
    bits = dist.view(np.uint32)
    _spanning_forest_kernel[batch, threads](
        dist, bits, thresholds, keys, best, tree, state, weights, components
    )
    return state, xp.sort(weights, axis=1), components
