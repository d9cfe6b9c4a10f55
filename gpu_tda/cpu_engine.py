"""The CPU engine: validated windows -> numba kernels on a thread pool -> ripser-style diagrams.

Windows are packed into one flat array per thread and handed to ``rips_of_windows``, which
releases the GIL, so a batch uses every core without Python in the loop. A single window runs
on one core (see ``persistence_many`` for why not on numba's threads).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import numpy as np

from gpu_tda.kernels.rips import h0_of_windows, h1_of_windows, rips_of_windows
from gpu_tda.work_estimate import check_window_budget

SMALL_BATCH_COST = 1 << 20
"""Below this estimated work (``window_cost`` units; about 0.7 ms at maxdim 0) a batch runs on the
calling thread: handing chunks to helper threads and waiting for them costs more than splitting
such a batch saves. A streaming worker's light-load batches (a few windows each) are all this
small."""


T = TypeVar("T")


class ChunkBars(NamedTuple):
    """One chunk's kernel output: the indices of its windows in the batch, ``counts``
    (windows, maxdim + 1) bars per window and dimension, and every bar's birth and death
    (float32), grouped by window then dimension, each group in ripser's order; ``seconds`` packing
    the chunk and its kernel took."""

    windows: list[int]
    counts: np.ndarray
    births: np.ndarray
    deaths: np.ndarray
    seconds: float


def persistence_many(
    clouds: list[np.ndarray],
    maxdim: int,
    threshold: float,
    distance_matrix: bool,
    memory_limit: int | None,
    n_threads: int | None = None,
) -> list[list[np.ndarray]]:
    """Diagrams of validated float64 windows (points, or distance matrices)."""
    results: list[list[np.ndarray] | None] = [None] * len(clouds)
    chunks = persistence_chunks(
        clouds, maxdim, threshold, distance_matrix, memory_limit, _chunk_diagrams, n_threads
    )
    for windows, diagrams in chunks:
        for window, dgms in zip(windows, diagrams, strict=True):
            results[window] = dgms
    return results  # type: ignore[return-value]


def persistence_chunks(
    clouds: list[np.ndarray],
    maxdim: int,
    threshold: float,
    distance_matrix: bool,
    memory_limit: int | None,
    finish: Callable[[ChunkBars], T],
    n_threads: int | None = None,
) -> list[tuple[list[int], T]]:
    """Validated float64 windows computed in chunks of similar cost, one chunk per thread:
    ``finish`` gets each chunk's bars on the thread that computed them, so that what it does
    outside the GIL (the worker writes the chunk's output messages) runs in parallel too.
    Returns (window indices, ``finish``'s result) per chunk."""
    thr32 = np.float32(threshold)
    checked: set[int] = set()  # sizes whose full simplex counts fit: checked once
    for cloud in clouds:
        if cloud.shape[0] not in checked:
            check_window_budget(cloud, maxdim, thr32, distance_matrix, memory_limit)
            if np.isinf(thr32):
                checked.add(cloud.shape[0])
    if not clouds:
        return []
    threads_wanted = n_threads or _cpu_count()
    cost_of = {n: window_cost(n, maxdim) for n in {c.shape[0] for c in clouds}}
    costs = [cost_of[c.shape[0]] for c in clouds]
    threads = max(1, min(threads_wanted, len(clouds)))
    if len(clouds) > 1 and sum(costs) < SMALL_BATCH_COST:
        threads = 1
    chunks = _balanced_chunks(costs, threads)

    def run(chunk: list[int]) -> tuple[list[int], T]:
        started = time.perf_counter()
        windows = [clouds[i] for i in chunk]
        counts, births, deaths = _run_chunk(windows, maxdim, thr32, distance_matrix)
        seconds = time.perf_counter() - started
        return chunk, finish(ChunkBars(chunk, counts, births, deaths, seconds))

    # One window runs on one thread. The kernels had a parallel=True mode for a lone window; loaded
    # from numba's on-disk cache, code that calls a parallel=True kernel can segfault when its
    # entries were written by different processes (numba issues 8578, 10128), as the maxdim-2
    # path did here. Spreading one window again would take Python threads over nogil chunks.
    if len(chunks) == 1:
        return [run(chunks[0])]
    # the calling thread runs the first chunk, helper threads the others
    pool = _helper_threads(len(chunks) - 1)
    helpers = [pool.submit(run, chunk) for chunk in chunks[1:]]
    return [run(chunks[0])] + [helper.result() for helper in helpers]


def diagrams_of_distances(dist: np.ndarray, maxdim: int, thr32: np.float32) -> list[np.ndarray]:
    """One window's diagrams from its (n, n) float32 distance matrix, on this thread.

    The GPU engine's host step; the same kernel and bar order as ``persistence_many``.
    """
    counts, births, deaths = _run_chunk([dist.astype(np.float64)], maxdim, thr32, True)
    return _split(counts, births, deaths)[0]


def _chunk_diagrams(bars: ChunkBars) -> list[list[np.ndarray]]:
    return _split(bars.counts, bars.births, bars.deaths)


def _split(counts: np.ndarray, births: np.ndarray, deaths: np.ndarray) -> list[list[np.ndarray]]:
    """Grouped, sorted bars (from ``rips_of_windows``) -> per window, one (k, 2) array per dim."""
    pairs = np.empty((births.shape[0], 2), dtype=np.float64)
    pairs[:, 0] = births
    pairs[:, 1] = deaths
    bounds = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts.ravel(), out=bounds[1:])
    bounds_list = bounds.tolist()
    per_window = counts.shape[1]
    return [
        [pairs[bounds_list[k] : bounds_list[k + 1]] for k in range(w, w + per_window)]
        for w in range(0, counts.size, per_window)
    ]


def _run_chunk(
    windows: list[np.ndarray],
    maxdim: int,
    thr32: np.float32,
    distance_matrix: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = np.array([w.size for w in windows], dtype=np.int64)
    offsets = np.zeros(len(windows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    widths = np.array([w.shape[1] if w.ndim == 2 else 0 for w in windows], dtype=np.int64)
    data = np.concatenate([w.ravel() for w in windows]) if windows else np.empty(0)
    if distance_matrix:
        data = data + 0.0  # turns any -0.0 into +0.0, whose bits sort correctly
    # the entry point for exactly this maxdim: a first call compiles only the kernels it needs
    # (on a cold cache maxdim 0 takes about 8 s, 1 about 25 s, all dimensions about a minute)
    if maxdim == 0:
        return h0_of_windows(data, offsets, widths, distance_matrix, thr32)
    if maxdim == 1:
        return h1_of_windows(data, offsets, widths, distance_matrix, thr32)
    return rips_of_windows(data, offsets, widths, distance_matrix, maxdim, thr32)


@functools.cache
def _helper_threads(count: int) -> ThreadPoolExecutor:
    """``count`` threads that run a batch's other chunks, started once per process and count.

    A pool per batch started and joined its threads each time: with a streaming worker's
    batches of 60-200 windows (several hundred a second at half its maximum rate) that held the
    event loop for a thread start each, waiting for the new thread to be scheduled.
    """
    return ThreadPoolExecutor(max_workers=count, thread_name_prefix="gpu-tda-cpu")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads
    os.register_at_fork(after_in_child=_helper_threads.cache_clear)


@functools.cache
def _cpu_count() -> int:
    """``os.cpu_count()``, read once: it reads sysfs each time (66 µs per call on this VM)."""
    return os.cpu_count() or 1


def window_cost(n: int, maxdim: int) -> float:
    """Estimated work of one window of ``n`` points (units of about 0.6 ns at maxdim 0)."""
    power = 2 if maxdim == 0 else maxdim + 2
    return float(max(n, 1)) ** power


def _balanced_chunks(costs: list[float], threads: int) -> list[list[int]]:
    """Split window indices into ``threads`` chunks of similar total cost (largest first)."""
    if threads == 1:
        return [list(range(len(costs)))]
    loads = [0.0] * threads
    chunks: list[list[int]] = [[] for _ in range(threads)]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        t = loads.index(min(loads))
        chunks[t].append(i)
        loads[t] += costs[i]
    return [sorted(c) for c in chunks if c]
