"""The embeddable streaming processor: points in, diagrams of the windows they complete out.

    proc = StreamingProcessor(windows=[128, 512], stride=32, maxdim=1, backend="auto")
    updates = proc.push("sensor-7", points)             # list[WindowDiagram] now due
    updates = proc.push_many({"s1": pts1, "s2": pts2})  # all due windows as one batch

No Kafka, no threads, no clock: the worker wraps the same pieces (ring buffers and the
``WindowComputer``) with Kafka, offsets and checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from gpu_tda.streaming.batch import BatchStats, ComputeFn, WindowComputer
from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.ring_buffer import NO_VALUE, DueWindow, RingBuffer
from gpu_tda.streaming.windows import WindowSpec, make_specs


class StreamingProcessor:
    """Per-stream ring buffers at one or more scales, computing due windows in batches.

    Parameters
    ----------
    windows : window sizes (one per scale), or ``"SIZE:STRIDE"`` strings / ``WindowSpec``s.
    stride : points between consecutive windows; one for all scales or one per scale.
    maxdim, threshold, backend : as for ``gpu_tda.persistence_batch``.
    compute_fn : replaces ``persistence_batch`` (same keyword signature), e.g. in tests.
    """

    def __init__(
        self,
        windows: int | str | WindowSpec | Iterable[int | str | WindowSpec] = (128, 512),
        stride: int | Sequence[int] = 32,
        maxdim: int = 1,
        backend: str = "auto",
        threshold: float = math.inf,
        *,
        compute_fn: ComputeFn | None = None,
    ) -> None:
        self.specs = make_specs(windows, stride)
        self.computer = WindowComputer(maxdim, threshold, backend, compute_fn=compute_fn)
        self._buffers: dict[str, RingBuffer] = {}

    @property
    def maxdim(self) -> int:
        return self.computer.maxdim

    @property
    def threshold(self) -> float:
        return self.computer.threshold

    @property
    def backend(self) -> str:
        """The resolved backend name ("cpu" or "gpu")."""
        return self.computer.backend

    @property
    def streams(self) -> list[str]:
        """Stream ids seen so far, in first-seen order."""
        return list(self._buffers)

    def buffer(self, stream: str) -> RingBuffer:
        """The ring buffer of ``stream`` (KeyError when unseen)."""
        return self._buffers[stream]

    def memory_bytes(self) -> int:
        """Bytes held by all ring buffers."""
        return sum(buf.memory_bytes() for buf in self._buffers.values())

    # -- data path ------------------------------------------------------------------------------
    def append(self, stream: str, points: object, *, ts: int | None = None) -> list[DueWindow]:
        """Append ``points`` to ``stream`` and return the due windows, not yet computed."""
        if not isinstance(stream, str) or not stream:
            raise ValueError(f"a stream id must be a non-empty string, got {stream!r}")
        arr = _as_points(points, stream)
        buf = self._buffers.get(stream)
        if buf is None:
            if arr.shape[0] == 0:
                return []
            buf = self._buffers[stream] = RingBuffer(stream, self.specs, arr.shape[1])
        elif arr.shape[1] != buf.dim and arr.shape[0]:
            raise ValueError(
                f"stream {stream!r} has {buf.dim} coordinates per point, got {arr.shape[1]}"
            )
        return buf.append(arr, ts=NO_VALUE if ts is None else int(ts))

    def compute(
        self, due: Sequence[DueWindow], stats: BatchStats | None = None
    ) -> list[WindowDiagram]:
        """Diagrams of ``due`` windows: one batch per (size, backend)."""
        return self.computer.compute(due, stats=stats)

    def push(self, stream: str, points: object, *, ts: int | None = None) -> list[WindowDiagram]:
        """Append ``points`` ((k, d) array) to ``stream``; diagrams of the windows now due."""
        return self.compute(self.append(stream, points, ts=ts))

    def push_many(self, batch: Mapping[str, object]) -> list[WindowDiagram]:
        """Append points to several streams; every due window is computed in one batch."""
        due: list[DueWindow] = []
        for stream, points in batch.items():
            due.extend(self.append(stream, points))
        return self.compute(due)


def _as_points(points: object, stream: str) -> np.ndarray:
    """A finite (k, d) float64 array (a 1-D array is one point); ValueError otherwise."""
    arr = np.asarray(points)
    if arr.ndim == 1 and arr.size:
        arr = arr.reshape(1, -1)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"points of stream {stream!r} must be numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or (arr.shape[0] and arr.shape[1] == 0):
        raise ValueError(f"points of stream {stream!r} must be a (k, d) array, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"points of stream {stream!r} contain NaN or inf")
    return arr
