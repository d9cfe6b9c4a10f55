"""Batched pairwise distances on the device: (B, n, d) float64 points -> (B, n, n) float32.

Each distance is summed in float64 one coordinate at a time, square-rooted and rounded to
float32: bit for bit what ``kernels.distances.pairwise_distances`` computes on the CPU.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb

from gpu_tda import device

cuda = device.numba_cuda()
_mul, _add = device.exact_float64_ops()

TILE = 16
"""Threads per block along each matrix axis (TILE * TILE per block)."""


@cuda.jit
def _distances_kernel(points, out):
    # grid: (windows, row tiles, column tiles); threads: (tile, tile) striding over the matrix
    b = cuda.blockIdx.x
    i0 = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    j0 = cuda.blockIdx.z * cuda.blockDim.x + cuda.threadIdx.x
    si = cuda.gridDim.y * cuda.blockDim.y
    sj = cuda.gridDim.z * cuda.blockDim.x
    n = points.shape[1]
    for i in range(i0, n, si):
        for j in range(j0, n, sj):
            acc = 0.0
            for k in range(points.shape[2]):
                diff = points[b, i, k] - points[b, j, k]
                acc = _add(acc, _mul(diff, diff))
            out[b, i, j] = nb.float32(math.sqrt(acc))


def batched_distances(points: Any, out: Any, tile: int = TILE, max_tiles: int = 64) -> Any:
    """Fill ``out`` (B, n, n) float32 with the distances of ``points`` (B, n, d) float64.

    Both are device arrays (CuPy, or numpy under the simulator). Each window gets at most
    ``max_tiles`` blocks per axis of ``tile`` x ``tile`` threads, which stride over the
    matrix. Returns ``out``.
    """
    batch, n, _ = points.shape
    if batch == 0 or n == 0:
        return out
    per_axis = min(max_tiles, (n + tile - 1) // tile)
    blocks = (batch, per_axis, per_axis)
    _distances_kernel[blocks, (tile, tile)](points, out)
    return out
