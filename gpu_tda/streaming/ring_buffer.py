"""Window *execution*: one numpy circular buffer per stream, cutting windows as they fall due.

A stream's buffer holds its last ``capacity`` points (the largest window size; every scale reads
the same buffer) plus, per point, where it came from: the offset of its message, the message's
timestamp and the per-stream index of the message's first point. The worker needs those to name a
window's offsets and to checkpoint where a replay must start; the embeddable processor leaves
them at -1.

The arrays live in a ``RingStore`` that many streams of one dimension share (the worker keeps
one per partition and dimension), so that ``ring_kernels`` can apply a whole micro-batch in one
call; a ``RingBuffer`` is one stream's slot in it. Appending cuts every window the new points
complete (even windows whose first points were never written to the ring) from the old ring
contents and the new points directly, in numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_tda.streaming import ring_kernels as rk
from gpu_tda.streaming.windows import WindowSpec, buffer_capacity

NO_VALUE = -1
"""Offset / timestamp placeholder for points that did not come from Kafka."""


@dataclass(eq=False, slots=True)
class DueWindow:
    """A window whose last point has arrived: its points (never a view of the ring) and where
    they came from. Read-only by convention: not frozen, because a frozen dataclass takes
    four times as long to build, and the worker builds one per window."""

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


class RingStore:
    """The rings of many streams of one dimension: arrays indexed by each stream's slot.

    ``points`` (slots, capacity, dim) float64; ``meta`` (slots, capacity, 3) int64 per point
    (``ring_kernels.META_*``); ``cursor`` (slots, 4) int64 per stream (``ring_kernels.CUR_*``).
    The arrays double when a stream is added to a full store, so hold the store, not its arrays.
    """

    def __init__(self, specs: tuple[WindowSpec, ...], dim: int, slots: int = 1) -> None:
        if dim < 1:
            raise ValueError(f"a stream's points need at least one coordinate, got dim={dim}")
        self.specs = specs
        self.dim = int(dim)
        self.capacity = buffer_capacity(specs)
        self.sizes = np.array([spec.size for spec in specs], dtype=np.int64)
        self.strides = np.array([spec.stride for spec in specs], dtype=np.int64)
        self.points = np.zeros((slots, self.capacity, self.dim), dtype=np.float64)
        self.meta = np.full((slots, self.capacity, 3), NO_VALUE, dtype=np.int64)
        self.cursor = np.zeros((slots, 4), dtype=np.int64)
        self.buffers: list[RingBuffer] = []

    def add(self, buf: RingBuffer, count: int, emitted_upto: int) -> int:
        """Give ``buf`` a slot whose next point gets index ``count``; return the slot."""
        slot = len(self.buffers)
        if slot == self.points.shape[0]:
            self.points = _doubled(self.points, 0.0)
            self.meta = _doubled(self.meta, NO_VALUE)
            self.cursor = _doubled(self.cursor, 0)
        self.buffers.append(buf)
        self.cursor[slot] = (count, count, emitted_upto, NO_VALUE)
        return slot

    def memory_bytes(self) -> int:
        """Bytes of the arrays, as allocated (up to twice what the streams use)."""
        return int(self.points.nbytes + self.meta.nbytes + self.cursor.nbytes)

    def slot_bytes(self) -> int:
        """Bytes of one stream's share of the arrays."""
        return int(self.points[0].nbytes + self.meta[0].nbytes + self.cursor[0].nbytes)

    def replay_entries(self, slots: np.ndarray) -> np.ndarray:
        """(k, 4) int64: the checkpoint entry ``[a, b, u, d]`` of the stream in each of
        ``slots`` (see ``checkpoint``), all at once. When a window not yet due needs buffered
        points, ``a`` is the offset of the message holding the oldest of them and ``b`` that
        message's first per-stream index; otherwise ``a`` is the stream's last offset + 1 and
        ``b`` its point count. ``u`` is past every window already published, ``d`` the
        dimension."""
        cursor = self.cursor[slots]
        count = cursor[:, rk.CUR_COUNT]
        needed = np.min([spec.first_index(spec.next_seqs(count)) for spec in self.specs], axis=0)
        buffered = needed < count
        oldest = np.maximum(needed, cursor[:, rk.CUR_VALID_FROM])
        meta = self.meta[slots, oldest % self.capacity]
        entries = np.empty((len(slots), 4), dtype=np.int64)
        entries[:, 0] = np.where(
            buffered, meta[:, rk.META_OFFSET], cursor[:, rk.CUR_LAST_OFFSET] + 1
        )
        entries[:, 1] = np.where(buffered, meta[:, rk.META_START], count)
        entries[:, 2] = np.maximum(cursor[:, rk.CUR_EMITTED_UPTO], count)
        entries[:, 3] = self.dim
        return entries

    def due_windows(
        self, out: np.ndarray, win: np.ndarray, counts: np.ndarray
    ) -> tuple[list[DueWindow], list[int]]:
        """The windows a ``ring_kernels`` append returned, as ``DueWindow``s whose points are
        views of ``out``, in arrival order (windows ending at the same point: smaller first),
        and the index in the run of the message that completed each."""
        if not win.shape[0]:
            return [], []
        order = np.arange(win.shape[0])
        if len(counts) > 1:  # the kernel wrote one block per scale: back to arrival order
            scale = win[:, 0]
            size = self.sizes[scale]
            order = np.lexsort((size, win[:, 2] * self.strides[scale] + size, win[:, 7]))
        blocks, first_rows = [], []
        start = row = 0
        for spec, count in zip(self.specs, counts.tolist(), strict=True):
            end = start + count * spec.size * self.dim
            blocks.append(out[start:end].reshape(count, spec.size, self.dim))
            first_rows.append(row)
            start, row = end, row + count
        rows = win.tolist()
        windows = []
        for i in order.tolist():
            k, slot, seq, first_offset, last_offset, start_ts, end_ts, _ = rows[i]
            buf = self.buffers[slot]
            windows.append(
                DueWindow(
                    buf.stream,
                    self.specs[k],
                    seq,
                    blocks[k][i - first_rows[k]],
                    first_offset,
                    last_offset,
                    start_ts,
                    end_ts,
                    buf.partition,
                )
            )
        return windows, win[order, 7].tolist()


def _doubled(array: np.ndarray, fill: float | int) -> np.ndarray:
    grown = np.full((2 * array.shape[0], *array.shape[1:]), fill, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


class RingBuffer:
    """The last ``capacity`` points of one stream, and the windows they complete.

    ``count`` is the per-stream index the next point gets. ``valid_from`` is the first index
    whose point this buffer has seen (0, or where a replay restarted); windows starting before
    it are never cut. Windows whose last index is below ``emitted_upto`` are known to be
    published already (restored from a checkpoint) and are not cut again. ``store``: the
    ``RingStore`` to take a slot in (default: one of its own).
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
        store: RingStore | None = None,
    ) -> None:
        store = RingStore(specs, dim) if store is None else store
        if store.dim != dim or store.specs != specs:
            raise ValueError(f"stream {stream!r} (dim {dim}) does not fit this store")
        self.stream = stream
        self.specs = specs
        self.dim = int(dim)
        self.partition = partition
        self.capacity = store.capacity
        self.store = store
        self.slot = store.add(self, int(count), int(emitted_upto))

    def _cursor(self, column: int) -> int:
        return int(self.store.cursor[self.slot, column])

    @property
    def count(self) -> int:
        return self._cursor(rk.CUR_COUNT)

    @property
    def valid_from(self) -> int:
        return self._cursor(rk.CUR_VALID_FROM)

    @property
    def emitted_upto(self) -> int:
        return self._cursor(rk.CUR_EMITTED_UPTO)

    @property
    def last_offset(self) -> int:
        """Offset of the last message that brought points (``NO_VALUE`` before any)."""
        return self._cursor(rk.CUR_LAST_OFFSET)

    @last_offset.setter
    def last_offset(self, offset: int) -> None:
        self.store.cursor[self.slot, rk.CUR_LAST_OFFSET] = offset

    # -- append -> due windows ------------------------------------------------------------------
    def append(
        self, points: np.ndarray, *, offset: int = NO_VALUE, ts: int = NO_VALUE
    ) -> list[DueWindow]:
        """Add one message's points (a finite (m, dim) float64 array); return the windows due.

        Windows come in the order their last point arrived (then smaller sizes first).
        """
        if points.ndim != 2 or points.shape[1] != self.dim:
            raise ValueError(
                f"stream {self.stream!r} has dimension {self.dim}, got points of shape "
                f"{points.shape}"
            )
        s = self.store
        data = np.ascontiguousarray(points, dtype=np.float64).reshape(-1)
        out, win, counts = rk.append_points(
            data, points.shape[0], offset, ts, self.slot,
            s.points, s.meta, s.cursor, s.sizes, s.strides,
        )  # fmt: skip
        return s.due_windows(out, win, counts)[0]

    # -- what the future still needs ------------------------------------------------------------
    def next_needed_index(self) -> int:
        """Per-stream index of the oldest point some not-yet-due window will contain."""
        count = self.count
        return min(spec.first_index(spec.next_seq(count)) for spec in self.specs)

    def window_points(self, start: int, size: int) -> np.ndarray:
        """A copy of buffered points ``start .. start+size-1`` (must still be in the ring)."""
        if start < max(self.valid_from, self.count - self.capacity) or start + size > self.count:
            raise IndexError(f"points {start}..{start + size - 1} are not buffered")
        slots = np.arange(start, start + size) % self.capacity
        return self.store.points[self.slot, slots]

    def memory_bytes(self) -> int:
        """Bytes of this stream's share of its store's arrays."""
        return self.store.slot_bytes()
