"""The GPU engine: windows -> device batches -> distances, H0 and H1 pairs on the device -> bars.

Same entry point as ``cpu_engine.persistence_many``. Windows are bucketed by shape, each bucket
is cut into batches that fit a fraction of free device memory, and every batch goes through:
points -> ``cuda_distances`` -> (maxdim 0) ``cuda_h0`` -> diagrams; (maxdim 1) ``cuda_h1``: the
edges sorted, H0 and the apparent pairs found on the device, the few other columns reduced by
the CPU kernel on a thread pool (numba releases the GIL); (maxdim >= 2) the float32 distance
matrices copied to the host -> ``cpu_engine.diagrams_of_distances`` on the pool. The float32
distances are bit-identical to the CPU kernels', so the diagrams are too.

A device out-of-memory error halves the batch and retries; at one window, or on any other
device error, that batch is computed by the CPU engine instead. The caller never sees a device
error from ``persistence_many``; ``GpuEngine.stats`` counts retries and fallbacks.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from gpu_tda import cpu_engine, device
from gpu_tda.device import DeviceError, DeviceOutOfMemoryError
from gpu_tda.kernels.cuda_distances import batched_distances
from gpu_tda.kernels.cuda_edges import MAX_BATCH, MAX_VERTICES
from gpu_tda.kernels.cuda_h0 import batched_h0
from gpu_tda.kernels.cuda_h1 import BYTES_PER_EDGE, EdgePairing, pair_edges, reduce_edge_columns
from gpu_tda.work_estimate import check_budget, check_window_budget

INJECT_ENV = "GPU_TDA_GPU_INJECT_FAILURES"
"""Test hook: ``N``, ``N:oom`` or ``N:error`` makes a new engine's next N device batches fail."""

SIMULATOR_BUDGET = 64 * 1024**2
"""Bytes a batch may use when free device memory is unknown (the simulator)."""

HOST_OVERLAP_PARTS = 4
"""Windows whose diagrams the host finishes (maxdim >= 1) go to the device in this many batches
at least, so that the host reduces one batch while the device computes and copies the next."""

HOST_OVERLAP_MIN_BATCH = 128
"""Fewest windows in a batch of that cut (a smaller one gains less than another launch costs)."""


@dataclasses.dataclass
class EngineStats:
    """Counters for metrics: device batches run, OOM retries, CPU fallbacks, last failure."""

    device_batches: int = 0
    oom_retries: int = 0
    cpu_fallbacks: int = 0
    fallback_windows: int = 0
    last_error: str | None = None


@dataclasses.dataclass(frozen=True)
class MemoryReport:
    """Device memory for metrics: bytes in use now, the most seen by this engine, and capacity."""

    current_bytes: int
    peak_bytes: int
    free_bytes: int | None
    total_bytes: int | None
    nvml_used_bytes: int | None


class GpuEngine:
    """Batched persistence on the device with OOM back-off and CPU fallback.

    Parameters
    ----------
    memory_fraction : share of free device memory one batch may plan to use.
    max_batch : cap on windows per device batch (None: memory decides).
    n_threads : host threads for dimensions >= 1 (default: all cores).
    inject_failures : test hook, the next N device batches raise
        (default: from ``$GPU_TDA_GPU_INJECT_FAILURES``).
    inject_kind : "oom" (out of memory: retried smaller) or "error" (straight to the CPU).
    """

    def __init__(
        self,
        memory_fraction: float = 0.5,
        max_batch: int | None = None,
        n_threads: int | None = None,
        inject_failures: int | None = None,
        inject_kind: str | None = None,
    ) -> None:
        if not 0 < memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1], got {memory_fraction}")
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be >= 1 or None, got {max_batch}")
        env_count, env_kind = _parse_injection(os.environ.get(INJECT_ENV, ""))
        self.memory_fraction = memory_fraction
        self.max_batch = max_batch
        self.n_threads = max(1, n_threads or os.cpu_count() or 1)
        self._inject_left = env_count if inject_failures is None else int(inject_failures)
        self._inject_kind = inject_kind or env_kind
        if self._inject_kind not in ("oom", "error"):
            raise ValueError(f"inject_kind must be 'oom' or 'error', got {self._inject_kind!r}")
        self._lock = threading.Lock()
        self._peak = 0
        self._pool: ThreadPoolExecutor | None = None
        self.stats = EngineStats()
        sim = device.simulator_enabled()
        # the simulator runs one Python thread per CUDA thread: keep launches tiny there
        launch = (4, 1, 4, 4) if sim else (16, 64, 256, 128)
        self._tile, self._max_tiles, self._h0_threads, self._edge_threads = launch

    # -- public -----------------------------------------------------------------------------

    def persistence_many(
        self,
        clouds: list[np.ndarray],
        maxdim: int,
        threshold: float,
        distance_matrix: bool,
        memory_limit: int | None,
    ) -> list[list[np.ndarray]]:
        """Diagrams of validated float64 windows (points, or distance matrices)."""
        thr32 = np.float32(threshold)
        for cloud in clouds:
            check_window_budget(cloud, maxdim, thr32, distance_matrix, memory_limit)
        results: list[list[np.ndarray] | None] = [None] * len(clouds)
        for indices in _buckets(clouds).values():
            windows = [clouds[i] for i in indices]
            if distance_matrix:
                stack = np.stack([(w + 0.0).astype(np.float32) for w in windows])
            else:
                stack = np.stack(windows)
            diagrams = self._run_bucket(stack, maxdim, thr32, distance_matrix, memory_limit)
            for i, dgm in zip(indices, diagrams, strict=True):
                results[i] = dgm
        return results  # type: ignore[return-value]

    def persistence_of_batch(
        self, points: Any, maxdim: int, threshold: float, memory_limit: int | None = None
    ) -> list[list[np.ndarray]]:
        """Diagrams of a (B, n, d) float64 batch already on the device (e.g. a ring gather)."""
        check_budget(int(points.shape[1]), maxdim, memory_limit)
        return self._run_bucket(points, maxdim, np.float32(threshold), False, memory_limit)

    def memory(self) -> MemoryReport:
        """Device memory now and the peak this engine has seen (zeros under the simulator)."""
        snap = device.memory()
        with self._lock:
            self._peak = max(self._peak, snap.pool_used)
            peak = self._peak
        return MemoryReport(
            current_bytes=snap.pool_used,
            peak_bytes=peak,
            free_bytes=snap.free,
            total_bytes=snap.total,
            nvml_used_bytes=snap.nvml_used,
        )

    def close(self) -> None:
        """Stop the host thread pool (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- batches ----------------------------------------------------------------------------

    def _run_bucket(
        self,
        stack: Any,
        maxdim: int,
        thr32: np.float32,
        distance_matrix: bool,
        memory_limit: int | None,
    ) -> list[list[np.ndarray]]:
        total, n = stack.shape[0], stack.shape[1]
        if total == 0:
            return []
        if n == 0:
            return [[np.empty((0, 2)) for _ in range(maxdim + 1)] for _ in range(total)]
        per_window = _bytes_per_window(n, stack.shape[2], distance_matrix, maxdim)
        batch = self._batch_size(per_window, total, host_finishes=maxdim >= 1)
        # host work of one batch (futures) overlaps the device work of the next
        parts: list[Future[list[list[np.ndarray]]]] = []
        start = 0
        while start < total:
            part = stack[start : start + batch]
            try:
                parts.extend(self._device_batch(part, maxdim, thr32, distance_matrix))
            except Exception as exc:  # a device failure must never reach the caller
                if device.is_out_of_memory(exc) and batch > 1:
                    self._note_retry(exc)
                    batch = max(1, batch // 2)
                    continue
                parts.append(
                    _done(
                        self._cpu_fallback(part, maxdim, thr32, distance_matrix, memory_limit, exc)
                    )
                )
            start += part.shape[0]
        return [dgms for f in parts for dgms in f.result()]

    def _device_batch(
        self, part: Any, maxdim: int, thr32: np.float32, distance_matrix: bool
    ) -> list[Future[list[list[np.ndarray]]]]:
        self._maybe_inject()
        xp = device.array_module()
        if distance_matrix:
            dist = xp.asarray(part, dtype=np.float32)
        else:
            points = xp.ascontiguousarray(xp.asarray(part, dtype=np.float64))
            b, n, _ = points.shape
            dist = xp.empty((b, n, n), dtype=np.float32)
            batched_distances(points, dist, self._tile, self._max_tiles)
        if maxdim == 0:
            weights, components = batched_h0(dist, float(thr32), self._h0_threads)
            self._sample_peak()
            host_w, host_c = device.to_host(weights), device.to_host(components)
            self._count_batch()
            return [_done(_h0_diagrams(host_w, host_c))]
        on_device = maxdim == 1 and dist.shape[1] <= MAX_VERTICES
        pairing = pair_edges(dist, float(thr32), self._edge_threads) if on_device else None
        self._sample_peak()
        host = np.ascontiguousarray(device.to_host(dist))
        self._count_batch()
        if pairing is not None:
            return self._host_h1(host, pairing)
        return self._host_rips(host, maxdim, thr32)

    def _host_h1(
        self, dist: np.ndarray, pairing: EdgePairing
    ) -> list[Future[list[list[np.ndarray]]]]:
        """H1 of each window from its columns left to reduce, by the CPU reduction."""
        h0 = _h0_diagrams(pairing.weights, pairing.components)
        cols = pairing.columns

        def chunk(lo: int, hi: int) -> list[list[np.ndarray]]:
            windows, births, deaths = reduce_edge_columns(
                dist,
                pairing.thresholds,
                pairing.keys,
                cols.starts,
                cols.col_d,
                cols.col_i,
                cols.pivot_d,
                cols.pivot_i,
                lo,
                hi,
            )
            bars = _bars_by_window(windows - lo, births, deaths, hi - lo)
            return [[*dgms, h1] for dgms, h1 in zip(h0[lo:hi], bars, strict=True)]

        return self._in_chunks(chunk, dist.shape[0])

    def _host_rips(
        self, dist: np.ndarray, maxdim: int, thr32: np.float32
    ) -> list[Future[list[list[np.ndarray]]]]:
        """Dimensions 0..maxdim of each float32 matrix by the CPU kernel (it needs H0's
        union-find for its columns anyway)."""

        def chunk(lo: int, hi: int) -> list[list[np.ndarray]]:
            return [cpu_engine.diagrams_of_distances(dist[i], maxdim, thr32) for i in range(lo, hi)]

        return self._in_chunks(chunk, dist.shape[0])

    def _in_chunks(
        self, work: Callable[[int, int], list[list[np.ndarray]]], count: int
    ) -> list[Future[list[list[np.ndarray]]]]:
        """``work(lo, hi)`` over windows 0..count-1 split into one chunk per host thread, on
        the thread pool (numba releases the GIL); inline with one thread."""
        if self.n_threads == 1:
            return [_done(work(0, count))]
        bounds = np.linspace(0, count, min(self.n_threads, count) + 1).astype(int).tolist()
        pool = self._thread_pool()
        return [pool.submit(work, lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]

    def _cpu_fallback(
        self,
        part: Any,
        maxdim: int,
        thr32: np.float32,
        distance_matrix: bool,
        memory_limit: int | None,
        exc: BaseException,
    ) -> list[list[np.ndarray]]:
        with self._lock:
            self.stats.cpu_fallbacks += 1
            self.stats.fallback_windows += int(part.shape[0])
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
        host = device.to_host(part)
        windows = [np.asarray(w, dtype=np.float64) for w in host]
        return cpu_engine.persistence_many(
            windows, maxdim, float(thr32), distance_matrix, memory_limit, self.n_threads
        )

    # -- helpers ----------------------------------------------------------------------------

    def _batch_size(self, per_window: int, total: int, host_finishes: bool = False) -> int:
        """Windows per device batch: what fits the memory budget, capped by ``max_batch``, and
        cut into ``HOST_OVERLAP_PARTS`` when the host finishes the diagrams."""
        free = device.free_bytes()
        budget = SIMULATOR_BUDGET if free is None else int(free * self.memory_fraction)
        size = min(max(1, budget // max(per_window, 1)), MAX_BATCH)
        if self.max_batch is not None:
            size = min(size, self.max_batch)
        if host_finishes:
            parts = max(1, min(HOST_OVERLAP_PARTS, total // HOST_OVERLAP_MIN_BATCH))
            size = min(size, -(-total // parts))
        return min(size, total)

    def _count_batch(self) -> None:
        with self._lock:
            self.stats.device_batches += 1

    def _maybe_inject(self) -> None:
        with self._lock:
            if self._inject_left <= 0:
                return
            self._inject_left -= 1
            kind = self._inject_kind
        if kind == "oom":
            raise DeviceOutOfMemoryError("injected device out-of-memory (test hook)")
        raise DeviceError("injected device failure (test hook)")

    def _note_retry(self, exc: BaseException) -> None:
        with self._lock:
            self.stats.oom_retries += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
        device.release_cached_memory()

    def _sample_peak(self) -> None:
        used = device.pool_used_bytes()
        with self._lock:
            self._peak = max(self._peak, used)

    def _thread_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="gpu-tda-host")
            return self._pool


def _buckets(clouds: Sequence[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
    """Window indices grouped by shape, so each group stacks into one (B, n, d) batch."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, cloud in enumerate(clouds):
        groups.setdefault(tuple(cloud.shape), []).append(i)
    return groups


def _bytes_per_window(n: int, width: int, distance_matrix: bool, maxdim: int) -> int:
    """Device bytes one window needs: input, float32 distances, then H0 scratch and sort
    (maxdim 0), or the edge arrays of ``cuda_h1`` (maxdim 1); above, the host reduces."""
    source = 4 * n * n if distance_matrix else 8 * n * width
    work = 32 * n
    if maxdim == 1:
        work += BYTES_PER_EDGE * (n * (n - 1) // 2)
    return source + 4 * n * n + work


def _h0_diagrams(sorted_weights: np.ndarray, components: np.ndarray) -> list[list[np.ndarray]]:
    """Per window: (0, death) for each positive weight, ascending, then (0, inf) per component.

    The CPU engine's order (by death, then birth), built without a sort
    because each row arrives sorted with its zeros first.
    """
    n = sorted_weights.shape[1]
    positive = np.count_nonzero(sorted_weights > 0, axis=1)
    out = []
    for row, k, c in zip(sorted_weights, positive.tolist(), components.tolist(), strict=True):
        bars = np.zeros((k + c, 2))
        bars[:k, 1] = row[n - k :]
        bars[k:, 1] = np.inf
        out.append([bars])
    return out


def _bars_by_window(
    windows: np.ndarray, births: np.ndarray, deaths: np.ndarray, count: int
) -> list[np.ndarray]:
    """Bars tagged with their window (0..count-1) -> one (k, 2) float64 array per window, each
    sorted by (death, birth) as the CPU engine sorts them."""
    order = np.lexsort((births, deaths, windows))
    pairs = np.empty((order.shape[0], 2))
    pairs[:, 0] = births[order]
    pairs[:, 1] = deaths[order]
    bounds = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(windows, minlength=count), out=bounds[1:])
    edges = bounds.tolist()
    return [pairs[lo:hi] for lo, hi in zip(edges, edges[1:], strict=False)]


def _done(value: list[list[np.ndarray]]) -> Future[list[list[np.ndarray]]]:
    """A future already holding ``value``."""
    future: Future[list[list[np.ndarray]]] = Future()
    future.set_result(value)
    return future


def _parse_injection(text: str) -> tuple[int, str]:
    if not text.strip():
        return 0, "oom"
    count, _, kind = text.partition(":")
    try:
        return int(count), (kind.strip() or "oom")
    except ValueError:
        raise ValueError(
            f"{INJECT_ENV} must look like 'N' or 'N:oom' / 'N:error', got {text!r}"
        ) from None


@functools.cache
def default_engine() -> GpuEngine:
    """The process-wide engine behind ``persistence_many`` (its stats and peak feed metrics)."""
    return GpuEngine()


def persistence_many(
    clouds: list[np.ndarray],
    maxdim: int,
    threshold: float,
    distance_matrix: bool,
    memory_limit: int | None,
) -> list[list[np.ndarray]]:
    """Diagrams of validated float64 windows on the GPU; same contract as the CPU engine's."""
    return default_engine().persistence_many(
        clouds, maxdim, threshold, distance_matrix, memory_limit
    )


def device_memory() -> MemoryReport:
    """Device memory (current, peak, free, total) as seen by the default engine."""
    return default_engine().memory()
