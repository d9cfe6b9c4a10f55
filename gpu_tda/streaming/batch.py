"""Due windows -> batch -> kernel -> diagrams: one ``persistence_batch`` call per (size, backend).

``WindowComputer`` is shared by the embeddable processor and the Kafka worker. It groups the due
windows by window size and backend, runs each group as one batch, and turns the results into
``WindowDiagram``s in the order the windows were given. GPU windows already gathered on the
device (the worker's ``DeviceBatch``es) run as their own batches, on the device function. A
failing GPU batch is recomputed on the CPU from its host points (``stats.fallbacks`` says why);
the CPU result is what gets published.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gpu_tda.backends import Backend, resolve_backend
from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.ring_buffer import NO_VALUE, DueWindow
from gpu_tda.validation import check_maxdim, check_threshold

if TYPE_CHECKING:
    from gpu_tda.streaming.device_mirror import DeviceBatch

log = logging.getLogger(__name__)

ComputeFn = Callable[..., list[list[np.ndarray]]]
"""``persistence_batch``-shaped: (windows, maxdim=, threshold=, backend=) -> diagrams each."""

DeviceComputeFn = Callable[..., list[list[np.ndarray]]]
"""(device batch, maxdim=, threshold=) -> diagrams of each of its windows, on the GPU."""

GpuCall = Callable[[], list[list[np.ndarray]]]
"""One batch on the GPU, its arguments bound."""


def persistence_batch_fn(
    windows: Sequence[np.ndarray], *, maxdim: int, threshold: float, backend: str
) -> list[list[np.ndarray]]:
    """The default compute function: ``gpu_tda.persistence_batch`` (imported when first used)."""
    from gpu_tda.api import persistence_batch

    return persistence_batch(list(windows), maxdim=maxdim, threshold=threshold, backend=backend)


def persistence_of_batch_fn(
    batch: DeviceBatch, *, maxdim: int, threshold: float
) -> list[list[np.ndarray]]:
    """The default device compute function: the GPU engine on ``batch.points`` (in place),
    once the rings' stream has written them."""
    from gpu_tda import device
    from gpu_tda.api import DEFAULT_MEMORY_LIMIT
    from gpu_tda.gpu_engine import default_engine

    device.wait_for(batch.ready)
    return default_engine().persistence_of_batch(
        batch.points, maxdim, threshold, DEFAULT_MEMORY_LIMIT
    )


@dataclass
class BatchStats:
    """What one ``compute`` call did, for metrics: seconds and window count per backend."""

    seconds: dict[str, float] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)


class WindowComputer:
    """Computes due windows in batches on the chosen backend.

    ``backend`` is "auto" | "cpu" | "gpu" ("auto" is resolved once, here). Per-window backends
    may be given to ``compute`` (e.g. from a feature flag); "gpu" falls back to the CPU when the
    GPU is not usable or its batch fails.
    """

    def __init__(
        self,
        maxdim: int = 1,
        threshold: float = math.inf,
        backend: str = "auto",
        *,
        compute_fn: ComputeFn | None = None,
        device_fn: DeviceComputeFn | None = None,
    ) -> None:
        self.maxdim = check_maxdim(maxdim)
        self.threshold = check_threshold(threshold)
        self.backend = resolve_backend(backend).value
        self._compute_fn = compute_fn or persistence_batch_fn
        self._device_fn = device_fn or persistence_of_batch_fn

    def compute(
        self,
        due: Sequence[DueWindow],
        backends: Sequence[str] | None = None,
        stats: BatchStats | None = None,
        device_batches: Iterable[DeviceBatch] = (),
    ) -> list[WindowDiagram]:
        """Diagrams of every window in ``due``, in the same order.

        ``device_batches``: GPU windows of ``due`` already gathered on the device.
        """
        if not due:
            return []
        chosen = [self.backend] * len(due) if backends is None else list(backends)
        runs: list[tuple[list[int], list[np.ndarray], GpuCall | None]] = [
            (batch.indices, batch.windows, functools.partial(self._device_call, batch))
            for batch in device_batches
        ]
        on_device = {i for members, _, _ in runs for i in members}
        groups: dict[tuple[int, str], list[int]] = {}
        for i, (window, backend) in enumerate(zip(due, chosen, strict=True)):
            if i not in on_device:
                groups.setdefault((window.spec.size, backend), []).append(i)
        for (_, backend), members in groups.items():
            clouds = [due[i].points for i in members]
            gpu_call = functools.partial(self._gpu_call, clouds)
            runs.append((members, clouds, gpu_call if backend == Backend.GPU.value else None))
        out: list[WindowDiagram | None] = [None] * len(due)
        for members, clouds, gpu_call in runs:
            used, results, seconds = self._run_group(clouds, gpu_call, stats)
            per_window_ms = 1000.0 * seconds / len(members)
            for i, dgms in zip(members, results, strict=True):
                out[i] = self._diagram(due[i], dgms, used, per_window_ms)
            if stats is not None:
                stats.seconds[used] = stats.seconds.get(used, 0.0) + seconds
                stats.windows[used] = stats.windows.get(used, 0) + len(members)
        return [wd for wd in out if wd is not None]

    def warm_up(self, dim: int = 3) -> float:
        """Compute one small window so JIT compilation happens now, not on the first batch.

        As in ``compute``, a GPU window that fails is redone on the CPU: a GPU failing at start
        leaves a worker that computes on the CPU (and retries the GPU), not one that is down.
        Returns the seconds it took.
        """
        started = time.perf_counter()
        clouds = [np.random.default_rng(0).normal(size=(8, dim))]
        gpu_call = functools.partial(self._gpu_call, clouds)
        stats = BatchStats()
        self._run_group(clouds, gpu_call if self.backend == Backend.GPU.value else None, stats)
        if stats.fallbacks:
            log.warning("the GPU failed its warm-up window (%s): the CPU took it", *stats.fallbacks)
        return time.perf_counter() - started

    def compute_on(self, due: Sequence[DueWindow], backend: str) -> list[list[np.ndarray]]:
        """Raw diagrams of ``due`` on exactly ``backend`` (no fallback): for shadow compares."""
        return self._compute_fn(
            [w.points for w in due], maxdim=self.maxdim, threshold=self.threshold, backend=backend
        )

    def _gpu_call(self, clouds: list[np.ndarray]) -> list[list[np.ndarray]]:
        return self._compute_fn(
            clouds, maxdim=self.maxdim, threshold=self.threshold, backend=Backend.GPU.value
        )

    def _device_call(self, batch: DeviceBatch) -> list[list[np.ndarray]]:
        return self._device_fn(batch, maxdim=self.maxdim, threshold=self.threshold)

    def _run_group(
        self, clouds: list[np.ndarray], gpu_call: GpuCall | None, stats: BatchStats | None
    ) -> tuple[str, list[list[np.ndarray]], float]:
        """(backend used, diagrams, seconds) of one batch: ``gpu_call`` runs it on the GPU
        (None: a CPU batch); when that fails the CPU computes ``clouds``."""
        started = time.perf_counter()
        if gpu_call is not None:
            try:
                return Backend.GPU.value, gpu_call(), time.perf_counter() - started
            except Exception as exc:  # a GPU that fails never loses the windows
                if stats is not None:
                    stats.fallbacks.append(_fallback_reason(exc))
                started = time.perf_counter()
        results = self._compute_fn(
            clouds, maxdim=self.maxdim, threshold=self.threshold, backend=Backend.CPU.value
        )
        return Backend.CPU.value, results, time.perf_counter() - started

    def _diagram(
        self, window: DueWindow, dgms: list[np.ndarray], backend: str, compute_ms: float
    ) -> WindowDiagram:
        spec = window.spec
        first, last = window.first_offset, window.last_offset
        start, end = window.start_ts, window.end_ts
        return WindowDiagram(  # positional, in field order: one per window, kept cheap
            window.stream,
            spec.size,
            spec.stride,
            window.seq,
            dgms,
            backend,
            compute_ms,
            window.partition,
            None if first == NO_VALUE else int(first),
            None if last == NO_VALUE else int(last),
            None if start == NO_VALUE else int(start),
            None if end == NO_VALUE else int(end),
            self.maxdim,
            self.threshold,
        )


def _fallback_reason(exc: BaseException) -> str:
    """A low-cardinality label for why the GPU batch was redone on the CPU."""
    from gpu_tda.exceptions import BackendUnavailableError, MemoryBudgetError

    if isinstance(exc, BackendUnavailableError):
        return "unavailable"
    if isinstance(exc, (MemoryBudgetError, MemoryError)) or "out of memory" in str(exc).lower():
        return "out_of_memory"
    return "error"
