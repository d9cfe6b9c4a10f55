"""Due windows -> batch -> kernel -> diagrams: one ``persistence_batch`` call per (size, backend).

``WindowComputer`` is shared by the embeddable processor and the Kafka worker. It groups the due
windows by window size and backend, runs each group as one batch, and turns the results into
``WindowDiagram``s in the order the windows were given. A failing GPU batch is recomputed on the
CPU (``on_fallback`` is told why); the CPU result is what gets published.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gpu_tda.backends import Backend, resolve_backend
from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.ring_buffer import NO_VALUE, DueWindow
from gpu_tda.validation import check_maxdim, check_threshold

ComputeFn = Callable[..., list[list[np.ndarray]]]
"""``persistence_batch``-shaped: (windows, maxdim=, threshold=, backend=) -> diagrams each."""


def _default_compute(
    windows: Sequence[np.ndarray], *, maxdim: int, threshold: float, backend: str
) -> list[list[np.ndarray]]:
    from gpu_tda.api import persistence_batch  # the public API, imported when first used

    return persistence_batch(list(windows), maxdim=maxdim, threshold=threshold, backend=backend)


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
    ) -> None:
        self.maxdim = check_maxdim(maxdim)
        self.threshold = check_threshold(threshold)
        self.backend = resolve_backend(backend).value
        self._compute_fn = compute_fn or _default_compute

    def compute(
        self,
        due: Sequence[DueWindow],
        backends: Sequence[str] | None = None,
        stats: BatchStats | None = None,
    ) -> list[WindowDiagram]:
        """Diagrams of every window in ``due``, in the same order."""
        if not due:
            return []
        chosen = [self.backend] * len(due) if backends is None else list(backends)
        groups: dict[tuple[int, str], list[int]] = {}
        for i, (window, backend) in enumerate(zip(due, chosen, strict=True)):
            groups.setdefault((window.spec.size, backend), []).append(i)
        out: list[WindowDiagram | None] = [None] * len(due)
        for (_, backend), members in groups.items():
            clouds = [due[i].points for i in members]
            used, results, seconds = self._run_group(clouds, backend, stats)
            per_window_ms = 1000.0 * seconds / len(members)
            for i, dgms in zip(members, results, strict=True):
                out[i] = self._diagram(due[i], dgms, used, per_window_ms)
            if stats is not None:
                stats.seconds[used] = stats.seconds.get(used, 0.0) + seconds
                stats.windows[used] = stats.windows.get(used, 0) + len(members)
        return [wd for wd in out if wd is not None]

    def warm_up(self, dim: int = 3) -> float:
        """Compute one small window so JIT compilation happens now, not on the first batch.

        Returns the seconds it took.
        """
        started = time.perf_counter()
        points = np.random.default_rng(0).normal(size=(8, dim))
        self._compute_fn(
            [points], maxdim=self.maxdim, threshold=self.threshold, backend=self.backend
        )
        return time.perf_counter() - started

    def compute_on(self, due: Sequence[DueWindow], backend: str) -> list[list[np.ndarray]]:
        """Raw diagrams of ``due`` on exactly ``backend`` (no fallback): for shadow compares."""
        return self._compute_fn(
            [w.points for w in due], maxdim=self.maxdim, threshold=self.threshold, backend=backend
        )

    def _run_group(
        self, clouds: list[np.ndarray], backend: str, stats: BatchStats | None
    ) -> tuple[str, list[list[np.ndarray]], float]:
        started = time.perf_counter()
        if backend == Backend.GPU.value:
            try:
                results = self._compute_fn(
                    clouds, maxdim=self.maxdim, threshold=self.threshold, backend=backend
                )
                return backend, results, time.perf_counter() - started
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
        return WindowDiagram(
            stream=window.stream,
            size=window.spec.size,
            stride=window.spec.stride,
            seq=window.seq,
            diagrams=dgms,
            backend=backend,
            compute_ms=compute_ms,
            partition=window.partition,
            first_offset=_known(window.first_offset),
            last_offset=_known(window.last_offset),
            start_ts=_known(window.start_ts),
            end_ts=_known(window.end_ts),
            maxdim=self.maxdim,
            threshold=self.threshold,
        )


def _known(value: int) -> int | None:
    return None if value == NO_VALUE else int(value)


def _fallback_reason(exc: BaseException) -> str:
    """A low-cardinality label for why the GPU batch was redone on the CPU."""
    from gpu_tda.exceptions import BackendUnavailableError, MemoryBudgetError

    if isinstance(exc, BackendUnavailableError):
        return "unavailable"
    if isinstance(exc, (MemoryBudgetError, MemoryError)) or "out of memory" in str(exc).lower():
        return "out_of_memory"
    return "error"
