"""Job -> batch -> kernel -> diagrams -> encoded values: the worker's compute stage.

Runs in a thread (``asyncio.to_thread``): the numba kernels release the GIL, so the event loop
keeps fetching and publishing meanwhile. Encoding the diagrams happens here too, so the event
loop only hands finished bytes to the producer.

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

from gpu_tda.backends import Backend
from gpu_tda.cpu_engine import window_cost
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.batch import BatchStats, WindowComputer
from gpu_tda.streaming.breakers import GpuGuard
from gpu_tda.streaming.diagram import WindowDiagram, encode_diagrams
from gpu_tda.streaming.intake import Job
from gpu_tda.streaming.shadow import shadow_compare


@dataclass
class Computed:
    """A job's diagrams and their output-topic values (``values[i]`` encodes ``diagrams[i]``)."""

    job: Job
    diagrams: list[WindowDiagram]
    values: list[bytes]


INLINE_COST = 1 << 22
"""Most estimated work (``cpu_engine.window_cost`` units: 256 windows of 128 points at maxdim 0,
about 6 ms computed and encoded, or two maxdim-1 windows of 128 points) of a job computed on the
event loop."""


class JobComputer:
    """Computes a job's due windows (GPU guard, metrics, shadow compares) and encodes them."""

    def __init__(self, computer: WindowComputer, gpu_guard: GpuGuard, metrics: WorkerMetrics):
        self.computer = computer
        self.gpu_guard = gpu_guard
        self.metrics = metrics
        self.gpu_used = False

    def small(self, job: Job) -> bool:
        """True when ``job`` is cheaper to compute on the calling thread (CPU windows only)."""
        if job.shadow or any(b != Backend.CPU.value for b in job.backends):
            return False
        maxdim = self.computer.maxdim
        cost = 0.0
        for window in job.due:  # stops at the first window past the limit
            cost += window_cost(len(window.points), maxdim)
            if cost > INLINE_COST:
                return False
        return True

    def __call__(self, job: Job) -> Computed:
        """The job's diagrams, in the order of ``job.due``, encoded (``emitted_ts`` = now)."""
        diagrams = self._compute(job) if job.due else []
        now_ms = int(time.time() * 1000)
        for wd in diagrams:
            wd.emitted_ts = now_ms
        return Computed(job, diagrams, encode_diagrams(diagrams))

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
