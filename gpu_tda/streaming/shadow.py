"""Shadow compares: a window also computed on the other backend, the two diagrams compared.

Turned on per stream by the ``shadow-compare`` flag. The published diagram is always the
primary one; the compare only counts ``tda_shadow_compare_total{result}`` (agree, mismatch,
error, unavailable) and logs mismatches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gpu_tda.backends import Backend, available_backends
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.batch import WindowComputer
from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.ring_buffer import DueWindow

log = logging.getLogger(__name__)

ATOL = 1e-4
"""Bars may differ by float32 rounding between backends."""


def shadow_compare(
    computer: WindowComputer,
    due: Sequence[DueWindow],
    diagrams: Sequence[WindowDiagram],
    indices: Sequence[int],
    metrics: WorkerMetrics,
) -> None:
    """Recompute ``due[i]`` for each i in ``indices`` on the other backend and compare."""
    usable = set(available_backends())
    for i in indices:
        primary = diagrams[i]
        other = Backend.CPU.value if primary.backend == Backend.GPU.value else Backend.GPU.value
        if other not in usable:
            metrics.shadow_compares.labels(result="unavailable").inc()
            continue
        try:
            dgms = computer.compute_on([due[i]], other)[0]
        except Exception:
            metrics.shadow_compares.labels(result="error").inc()
            log.debug("shadow compute on %s failed", other, exc_info=True)
            continue
        twin = WindowDiagram(
            primary.stream, primary.size, primary.stride, primary.seq, dgms, other, 0.0
        )
        same = primary.same_bars(twin, atol=ATOL)
        metrics.shadow_compares.labels(result="agree" if same else "mismatch").inc()
        if not same:
            log.warning(
                "shadow compare mismatch: %s on %s vs %s", primary.key, primary.backend, other
            )
