"""Window *execution*: one numpy circular buffer per stream, cutting windows as they fall due.

A stream's buffer holds its last ``capacity`` points (the largest window size; every scale reads
the same buffer) plus, per point, where it came from: the offset of its message, the message's
timestamp and the per-stream index of the message's first point. The worker needs those to name a
window's offsets and to checkpoint where a replay must start; the embeddable processor leaves
them at -1.

Appending is O(points) with no per-point Python work; a push that completes several windows at
once (even windows whose first points were never written to the ring) cuts each of them from the
old ring contents and the pushed points directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_tda.streaming.windows import WindowSpec, buffer_capacity

NO_VALUE = -1
"""Offset / timestamp placeholder for points that did not come from Kafka."""


@dataclass(frozen=True, eq=False)
class DueWindow:
    """A window whose last point has arrived: its points (a copy) and where they came from."""

    stream: str
    spec: WindowSpec
    seq: int
    points: np.ndarray
    first_offset: int
    last_offset: int
    start_ts: int
    end_ts: int
    partition: int | None = None

    @property
    def last_index(self) -> int:
        """Per-stream index of the window's last point."""
        return self.spec.last_index(self.seq)


@dataclass(frozen=True)
class NeededPoint:
    """The oldest point a future window of a stream still needs, and its message."""

    index: int
    offset: int
    message_start: int


class RingBuffer:
    """The last ``capacity`` points of one stream, and the windows they complete.

    ``count`` is the per-stream index the next point gets. ``valid_from`` is the first index
    whose point this buffer has seen (0, or where a replay restarted); windows starting before
    it are never cut. Windows whose last index is below ``emitted_upto`` are known to be
    published already (restored from a checkpoint) and are not cut again.
    """

    def __init__(
        self,
        stream: str,
        specs: tuple[WindowSpec, ...],
        dim: int,
        *,
        count: int = 0,
        emitted_upto: int = 0,
        partition: int | None = None,
    ) -> None:
        if dim < 1:
            raise ValueError(f"a stream's points need at least one coordinate, got dim={dim}")
        self.stream = stream
        self.specs = specs
        self.dim = int(dim)
        self.partition = partition
        self.capacity = buffer_capacity(specs)
        self.count = int(count)
        self.valid_from = int(count)
        self.emitted_upto = int(emitted_upto)
        self.last_offset = NO_VALUE
        self._points = np.zeros((self.capacity, self.dim), dtype=np.float64)
        self._offsets = np.full(self.capacity, NO_VALUE, dtype=np.int64)
        self._ts = np.full(self.capacity, NO_VALUE, dtype=np.int64)
        self._message_start = np.zeros(self.capacity, dtype=np.int64)

    # -- append -> due windows ------------------------------------------------------------------
    def append(
        self, points: np.ndarray, *, offset: int = NO_VALUE, ts: int = NO_VALUE
    ) -> list[DueWindow]:
        """Add one message's points (a finite (m, dim) float64 array); return the windows due.

        Windows come in the order their last point arrived (then smaller sizes first).
        """
        m = int(points.shape[0])
        if points.ndim != 2 or points.shape[1] != self.dim:
            raise ValueError(
                f"stream {self.stream!r} has dimension {self.dim}, got points of shape "
                f"{points.shape}"
            )
        before, after = self.count, self.count + m
        due = [
            self._cut(spec, seq, points, before, offset, ts)
            for spec, seq in self._due(before, after)
        ]
        self._write(points, before, offset, ts)
        self.count = after
        if m:
            self.last_offset = offset
        return due

    def _due(self, before: int, after: int) -> list[tuple[WindowSpec, int]]:
        found = [
            (spec.last_index(seq), spec.size, spec, seq)
            for spec in self.specs
            for seq in spec.due_seqs(before, after)
            if spec.first_index(seq) >= self.valid_from
            and spec.last_index(seq) >= self.emitted_upto
        ]
        found.sort(key=lambda item: (item[0], item[1]))
        return [(spec, seq) for _, _, spec, seq in found]

    def _cut(
        self,
        spec: WindowSpec,
        seq: int,
        new: np.ndarray,
        before: int,
        offset: int,
        ts: int,
    ) -> DueWindow:
        start, end = spec.first_index(seq), spec.last_index(seq)
        if start >= before:
            window = new[start - before : end - before + 1].copy()
        else:
            window = np.empty((spec.size, self.dim), dtype=np.float64)
            n_old = before - start  # end >= before always: the window became due in this push
            self._read_ring(self._points, start, window[:n_old])
            window[n_old:] = new[: end - before + 1]
        first_offset, start_ts = self._meta(start, before, offset, ts)
        last_offset, end_ts = self._meta(end, before, offset, ts)
        return DueWindow(
            stream=self.stream,
            spec=spec,
            seq=seq,
            points=window,
            first_offset=first_offset,
            last_offset=last_offset,
            start_ts=start_ts,
            end_ts=end_ts,
            partition=self.partition,
        )

    def _meta(self, index: int, before: int, offset: int, ts: int) -> tuple[int, int]:
        if index >= before:
            return offset, ts
        slot = index % self.capacity
        return int(self._offsets[slot]), int(self._ts[slot])

    def _read_ring(self, ring: np.ndarray, start: int, out: np.ndarray) -> None:
        n = out.shape[0]
        slot = start % self.capacity
        first = min(n, self.capacity - slot)
        out[:first] = ring[slot : slot + first]
        out[first:] = ring[: n - first]

    def _write(self, points: np.ndarray, start: int, offset: int, ts: int) -> None:
        m = points.shape[0]
        message_start = start
        if m > self.capacity:
            points = points[m - self.capacity :]
            start += m - self.capacity
            m = self.capacity
        slot = start % self.capacity
        first = min(m, self.capacity - slot)
        rest = m - first
        self._points[slot : slot + first] = points[:first]
        self._offsets[slot : slot + first] = offset
        self._ts[slot : slot + first] = ts
        self._message_start[slot : slot + first] = message_start
        if rest:  # wrapped around the end of the ring
            self._points[:rest] = points[first:]
            self._offsets[:rest] = offset
            self._ts[:rest] = ts
            self._message_start[:rest] = message_start

    # -- what the future still needs ------------------------------------------------------------
    def next_needed_index(self) -> int:
        """Per-stream index of the oldest point some not-yet-due window will contain."""
        return min(spec.first_index(spec.next_seq(self.count)) for spec in self.specs)

    def oldest_needed(self) -> NeededPoint | None:
        """The oldest buffered point a future window needs, or None when none is buffered."""
        index = self.next_needed_index()
        if index >= self.count:
            return None
        index = max(index, self.valid_from)
        slot = index % self.capacity
        return NeededPoint(
            index=index,
            offset=int(self._offsets[slot]),
            message_start=int(self._message_start[slot]),
        )

    def window_points(self, start: int, size: int) -> np.ndarray:
        """A copy of buffered points ``start .. start+size-1`` (must still be in the ring)."""
        if start < max(self.valid_from, self.count - self.capacity) or start + size > self.count:
            raise IndexError(f"points {start}..{start + size - 1} are not buffered")
        out = np.empty((size, self.dim), dtype=np.float64)
        self._read_ring(self._points, start, out)
        return out

    def memory_bytes(self) -> int:
        """Bytes held by this buffer's arrays."""
        return int(
            self._points.nbytes
            + self._offsets.nbytes
            + self._ts.nbytes
            + self._message_start.nbytes
        )
