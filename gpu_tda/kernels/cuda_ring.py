"""Device-resident ring buffers: scatter decoded points in, gather due windows out.

The ring is a (slots, capacity, dim) float64 device array, one slot per stream. A point with
per-stream index p of slot s lives at ``ring[s, p % capacity]``. Both kernels only move data
between device arrays; the caller keeps the per-slot counters on the host.
"""

from __future__ import annotations

from typing import Any

from gpu_tda import device

cuda = device.numba_cuda()

THREADS = 128
"""Threads per block for both kernels."""


@cuda.jit
def _scatter_kernel(ring, points, slots, positions):
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    capacity = ring.shape[1]
    dim = ring.shape[2]
    total = points.shape[0] * dim
    for flat in range(start, total, step):
        i = flat // dim
        k = flat - i * dim
        ring[slots[i], positions[i] % capacity, k] = points[i, k]


@cuda.jit
def _gather_kernel(ring, slots, starts, out):
    # grid: (windows, blocks per window)
    b = cuda.blockIdx.x
    start = cuda.blockIdx.y * cuda.blockDim.x + cuda.threadIdx.x
    step = cuda.gridDim.y * cuda.blockDim.x
    capacity = ring.shape[1]
    dim = ring.shape[2]
    size = out.shape[1]
    slot = slots[b]
    first = starts[b]
    for flat in range(start, size * dim, step):
        i = flat // dim
        k = flat - i * dim
        out[b, i, k] = ring[slot, (first + i) % capacity, k]


def scatter_points(
    ring: Any,
    points: Any,
    slots: Any,
    positions: Any,
    threads: int = THREADS,
    max_blocks: int = 1024,
    stream: Any = 0,
) -> None:
    """``ring[slots[i], positions[i] % capacity, :] = points[i, :]`` for every row i.

    All arguments are device arrays: points (m, dim) float64, slots and positions (m,) int64.
    No two rows may land on the same cell (the caller drops points overwritten in the batch).
    Queued on ``stream`` (a numba stream; 0 is the default stream).
    """
    m, dim = points.shape
    if m == 0:
        return
    blocks = max(1, min(max_blocks, (m * dim + threads - 1) // threads))
    _scatter_kernel[blocks, threads, stream](ring, points, slots, positions)


def gather_windows(
    ring: Any,
    slots: Any,
    starts: Any,
    out: Any,
    threads: int = THREADS,
    max_blocks: int = 64,
    stream: Any = 0,
) -> Any:
    """``out[b, i, :] = ring[slots[b], (starts[b] + i) % capacity, :]``; returns ``out``.

    ``out`` is a (B, n, dim) float64 device array; slots and starts are (B,) int64 device
    arrays, starts being per-stream point indices (the window may wrap around the ring).
    Queued on ``stream`` (a numba stream; 0 is the default stream): synchronize it before
    another stream reads ``out``.
    """
    batch, size, dim = out.shape
    if batch == 0 or size == 0:
        return out
    per_window = max(1, min(max_blocks, (size * dim + threads - 1) // threads))
    _gather_kernel[(batch, per_window), threads, stream](ring, slots, starts, out)
    return out
