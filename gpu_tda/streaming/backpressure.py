"""Pausing the input partitions while the worker cannot take more (and resuming them).

Several reasons can hold the input at once (``backpressure``: too many jobs in flight;
``producer``: the producer breaker is open); the partitions resume when none is left.
"""

from __future__ import annotations

from typing import Any

from gpu_tda.metrics import WorkerMetrics


class InputPause:
    """The pause reasons of one consumer's assigned partitions."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self._metrics = metrics
        self._consumer: Any = None
        self._reasons: set[str] = set()

    def attach(self, consumer: Any) -> None:
        """The consumer whose partitions to pause (set once it exists)."""
        self._consumer = consumer

    @property
    def paused(self) -> bool:
        return bool(self._reasons)

    def pause(self, reason: str) -> None:
        """Pause every assigned input partition (until no reason is left)."""
        self._reasons.add(reason)
        self.apply()

    def resume(self, reason: str) -> None:
        if reason not in self._reasons:
            return
        self._reasons.discard(reason)
        if not self._reasons and self._consumer is not None:
            self._consumer.resume(*self._consumer.paused())
            self._metrics.paused_partitions.set(0)

    def apply(self) -> None:
        """Pause the current assignment again if a reason holds (a new assignment starts
        unpaused)."""
        if self._reasons and self._consumer is not None:
            parts = self._consumer.assignment()
            self._consumer.pause(*parts)
            self._metrics.paused_partitions.set(len(parts))
