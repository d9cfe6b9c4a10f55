"""Batched dimension-0 persistence on the device: one block runs Prim's algorithm per window.

Every vertex is born at 0; each minimum-spanning-forest edge of positive length is a bar
(0, length) and each connected component one essential bar. Edges longer than the threshold do
not exist. The multiset of MST edge lengths does not depend on how ties are broken, so this
equals the CPU kernels' H0 exactly.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from gpu_tda import device

cuda = device.numba_cuda()

MAX_THREADS = 256
"""Largest block; shared reduction buffers are this long. Launches use a power of two <= it."""


@cuda.jit(device=True, inline=True)
def block_min(s_key, s_idx, n):
    """The block's smallest (key, vertex) of those in s_key/s_idx (vertex n: none; equal keys:
    the smaller vertex), read by all threads. Every thread must call it."""
    t = cuda.threadIdx.x
    cuda.syncthreads()
    stride = cuda.blockDim.x // 2
    while stride > 0:
        if t < stride:
            ok = s_key[t + stride]
            oi = s_idx[t + stride]
            mine = s_idx[t]
            if oi < n and (mine == n or ok < s_key[t] or (ok == s_key[t] and oi < mine)):
                s_key[t] = ok
                s_idx[t] = oi
        cuda.syncthreads()
        stride //= 2
    key = s_key[0]
    v = s_idx[0]
    cuda.syncthreads()  # everyone has read the winner before shared memory is reused
    return key, v


@cuda.jit
def _prim_kernel(dist, threshold, key, weights, components):
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n = dist.shape[1]
    inf = nb.float32(np.inf)
    s_val = cuda.shared.array(MAX_THREADS, nb.float32)
    s_idx = cuda.shared.array(MAX_THREADS, nb.int32)
    for v in range(t, n, nt):
        key[b, v] = inf
    cuda.syncthreads()
    n_comp = 0
    for it in range(n):
        # key < 0 marks a vertex already in the tree; ties go to the smaller index
        best_v = inf
        best_i = n
        for v in range(t, n, nt):
            kv = key[b, v]
            if kv >= 0 and (best_i == n or kv < best_v):
                best_v = kv
                best_i = v
        s_val[t] = best_v
        s_idx[t] = best_i
        kv, v = block_min(s_val, s_idx, n)
        if t == 0:
            key[b, v] = -1.0
            if kv == inf:
                n_comp += 1
                weights[b, it] = 0.0
            else:
                weights[b, it] = kv
        for u in range(t, n, nt):
            if u != v:
                ku = key[b, u]
                d = dist[b, v, u]
                if ku >= 0 and d <= threshold and d < ku:
                    key[b, u] = d
        cuda.syncthreads()
    if t == 0:
        components[b] = n_comp


def threads_for(n: int, max_threads: int = MAX_THREADS) -> int:
    """The smallest power-of-two block size covering n vertices, at most ``max_threads``."""
    if max_threads < 1 or max_threads > MAX_THREADS or max_threads & (max_threads - 1):
        raise ValueError(f"max_threads must be a power of two in 1..{MAX_THREADS}")
    threads = 1
    while threads < n and threads < max_threads:
        threads *= 2
    return threads


def batched_h0(dist: Any, threshold: float, max_threads: int = MAX_THREADS) -> tuple[Any, Any]:
    """H0 of every window of ``dist`` (B, n, n) float32 on the device.

    Returns (weights (B, n) float32 sorted ascending per window, components (B,) int32), both
    device arrays. Row b holds zeros (component starts and zero-length edges), then the
    positive death values of window b's finite H0 bars; components[b] is its number of
    essential bars.
    """
    xp = device.array_module()
    batch, n, _ = dist.shape
    weights = xp.zeros((batch, n), dtype=np.float32)
    components = xp.zeros(batch, dtype=np.int32)
    if batch == 0 or n == 0:
        return weights, components
    key = xp.empty((batch, n), dtype=np.float32)
    threads = threads_for(n, max_threads)
    _prim_kernel[batch, threads](dist, np.float32(threshold), key, weights, components)
    return xp.sort(weights, axis=1), components
