"""Job -> kernel -> output-topic values: the worker's compute stage.

Runs in a thread (``asyncio.to_thread``): the numba kernels release the GIL, so the event loop
keeps fetching and publishing meanwhile. Writing the documents happens here too, so the event
loop only hands finished bytes to the producer.

CPU windows take the direct path (``JobComputer``): each CPU engine thread writes the
documents of its chunk right after computing it, from the kernel's flat bars, so the GIL-free
writer splits over the cores like the kernel and no diagram objects are built. Against
computing ``WindowDiagram``s and encoding them (maxdim 0, 128-point windows, 2-core machine):
20.9 -> 14.4 µs per window in a job of 120, 18.8 -> 11.9 in one of 2,000; a drain through the
embedded broker 1.0M -> 1.2-1.3M points/s (two alternated runs each).

A job small enough to hold the event loop for a few milliseconds (``JobComputer.small``: CPU
windows estimated below ``INLINE_COST``) runs on the event loop instead. The thread only pays
when compute is long: while both threads want the GIL (the compute thread packs windows and
encodes diagrams, the loop decodes, buffers and sends), each waits for the other's switch
interval, which slows both, and handing a job over costs more than a small job's compute on a
busy 2-core machine. Measured through the embedded broker at half the maximum rate (131,000
points/s, maxdim 0, binary, 30 to 120 windows per job): emitted latency p50 17-32 ms against
53-70 ms with the thread (three alternated runs each), while a drain, whose jobs of 2,000
windows still go to the thread, kept its rate (230k-280k points/s either way).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gpu_tda.api import DEFAULT_MEMORY_LIMIT
from gpu_tda.backends import Backend
from gpu_tda.cpu_engine import ChunkBars, persistence_chunks, window_cost
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.batch import BatchStats, WindowComputer
from gpu_tda.streaming.breakers import GpuGuard
from gpu_tda.streaming.diagram import Headers, WindowDiagram, encode_diagrams
from gpu_tda.streaming.intake import Job
from gpu_tda.streaming.ring_buffer import DueWindow
from gpu_tda.streaming.shadow import shadow_compare


@dataclass
class Computed:
    """A job's output-topic values: ``values[i]`` is the document of ``job.due[i]``, computed
    on ``backends[i]`` (both empty when the compute failed)."""

    job: Job
    values: list[bytes]
    backends: list[str]


INLINE_COST = 1 << 22
"""Most estimated work (``cpu_engine.window_cost`` units: 256 windows of 128 points at maxdim 0,
about 3.5 ms computed and written, or two maxdim-1 windows of 128 points) of a job computed on the
event loop."""


class JobComputer:
    """Computes a job's due windows (GPU guard, metrics, shadow compares) and encodes them.

    With ``direct_cpu``, a job of CPU windows alone (the common case) goes straight to the CPU
    engine, and each of its threads writes the documents of the windows it computed right
    after its kernel: both GIL-free, so they split over the cores, with no per-window Python
    (diagram objects, bar arrays) between them. Otherwise (GPU windows, shadow compares, a
    ``computer`` with a replaced compute function) the windows go through ``computer``.
    """

    def __init__(
        self,
        computer: WindowComputer,
        gpu_guard: GpuGuard,
        metrics: WorkerMetrics,
        *,
        direct_cpu: bool = True,
    ) -> None:
        self.computer = computer
        self.gpu_guard = gpu_guard
        self.metrics = metrics
        self.direct_cpu = direct_cpu
        self.gpu_used = False

    def small(self, job: Job) -> bool:
        """True when ``job`` is cheaper to compute on the calling thread (CPU windows only)."""
        if not self._cpu_only(job):
            return False
        maxdim = self.computer.maxdim
        cost = 0.0
        for window in job.due:  # stops at the first window past the limit
            cost += window_cost(len(window.points), maxdim)
            if cost > INLINE_COST:
                return False
        return True

    def __call__(self, job: Job) -> Computed:
        """The job's windows' documents, in the order of ``job.due`` (``emitted_ts`` = when
        they were written)."""
        if not job.due:
            return Computed(job, [], [])
        if self.direct_cpu and self._cpu_only(job):
            return Computed(
                job, self._documents_on_cpu(job.due), [Backend.CPU.value] * len(job.due)
            )
        diagrams = self._compute(job)
        now_ms = int(time.time() * 1000)
        for wd in diagrams:
            wd.emitted_ts = now_ms
        return Computed(job, encode_diagrams(diagrams), [wd.backend for wd in diagrams])

    @staticmethod
    def _cpu_only(job: Job) -> bool:
        return not job.shadow and all(b == Backend.CPU.value for b in job.backends)

    def _documents_on_cpu(self, due: list[DueWindow]) -> list[bytes]:
        """The documents of CPU windows: each engine thread writes those of its chunk."""
        maxdim, threshold = self.computer.maxdim, self.computer.threshold
        headers = Headers.of_windows(due, maxdim, threshold, Backend.CPU.value)

        def write(bars: ChunkBars) -> tuple[float, list[bytes]]:
            windows = len(bars.windows)
            chunk = headers.rows(bars.windows)
            chunk.stamp(int(time.time() * 1000), 1000.0 * bars.seconds / windows)
            dims_at = np.arange(0, windows * (maxdim + 1) + 1, maxdim + 1, dtype=np.int64)
            flat = np.empty((len(bars.births), 2), dtype=np.float64)
            flat[:, 0] = bars.births
            flat[:, 1] = bars.deaths
            return bars.seconds, chunk.write(dims_at, bars.counts.ravel(), flat)

        clouds = [window.points for window in due]
        chunks = persistence_chunks(clouds, maxdim, threshold, False, DEFAULT_MEMORY_LIMIT, write)
        values: list[bytes] = [b""] * len(due)
        for windows, (_, written) in chunks:
            for i, value in zip(windows, written, strict=True):
                values[i] = value
        seconds = max(seconds for _, (seconds, _) in chunks)  # the chunks ran side by side
        self.metrics.compute_seconds.labels(backend=Backend.CPU.value, maxdim=str(maxdim)).observe(
            seconds
        )
        return values

    def _compute(self, job: Job) -> list[WindowDiagram]:
        stats = BatchStats()
        self.gpu_guard.take_fallbacks()  # forget shadow-compare failures of earlier jobs
        diagrams = self.computer.compute(job.due, job.backends, stats, job.device_batches.values())
        maxdim = str(self.computer.maxdim)
        for backend, seconds in stats.seconds.items():
            self.metrics.compute_seconds.labels(backend=backend, maxdim=maxdim).observe(seconds)
        # one reason per GPU batch redone on the CPU (the guard's labels are finer than stats')
        for reason in self.gpu_guard.take_fallbacks():
            self.metrics.backend_fallbacks.labels(reason=reason).inc()
        if Backend.GPU.value in stats.seconds:
            self.gpu_used = True
        if job.shadow:
            shadow_compare(self.computer, job.due, diagrams, job.shadow, self.metrics)
        return diagrams
