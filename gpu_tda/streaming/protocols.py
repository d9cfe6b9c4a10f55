"""The streaming protocols (structural types): what a processor, a window and an adapter are.

``StreamingProcessor`` implements ``StreamingTDAProcessor``; ``RingBuffer`` implements
``DataWindow``; ``KafkaWorker`` implements ``StreamAdapter``. Other implementations (another
stream system, a websocket feed) only need the same methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.ring_buffer import DueWindow


@runtime_checkable
class StreamingTDAProcessor(Protocol):
    """Takes points per stream, returns the diagrams of the windows they completed."""

    def push(self, stream: str, points: np.ndarray) -> list[WindowDiagram]:
        """Append ``points`` ((k, d) array) to ``stream``; diagrams of the windows now due."""
        ...

    def push_many(self, batch: Mapping[str, np.ndarray]) -> list[WindowDiagram]:
        """Append points to several streams; all due windows computed as one batch."""
        ...


@runtime_checkable
class DataWindow(Protocol):
    """One stream's sliding windows over its last points (a ring buffer)."""

    count: int
    """Per-stream index the next point gets (points appended so far)."""

    dim: int
    """Coordinates per point, fixed by the stream's first point."""

    def append(self, points: np.ndarray, *, offset: int = ..., ts: int = ...) -> list[DueWindow]:
        """Add points; return the windows whose last point just arrived (their points copied)."""
        ...

    def next_needed_index(self) -> int:
        """Per-stream index of the oldest point a window not yet due will contain."""
        ...

    def memory_bytes(self) -> int:
        """Bytes held by the buffer."""
        ...


@runtime_checkable
class StreamAdapter(Protocol):
    """A source of points and sink of diagrams driving a processor (the Kafka worker is one).

    ``run`` processes until ``count`` input messages were handled or ``timeout`` seconds passed
    (both None: until stopped) and returns the number of messages handled.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def run(self, count: int | None = None, timeout: float | None = None) -> int: ...
