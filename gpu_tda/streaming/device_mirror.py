"""The worker's streams mirrored into device ring buffers, so GPU windows need no host copy.

The host ``RingBuffer``s stay the source of truth (checkpoints, replay, the CPU path, shadow
compares). When the worker may compute on the GPU, intake also ``stage``s every appended
message here; ``flush`` sends the micro-batch to the device with one ``append_many`` per ring,
and ``gather`` cuts the GPU windows that fell due into (B, size, dim) device batches for
``GpuEngine.persistence_of_batch``. Gathering happens at the end of intake: the worker computes
job N while job N+1's points are appended, so a later gather could find a window overwritten.

One ``DeviceRingBuffers`` per dimension (the worker sizes them at twice its largest window),
one slot per (partition, stream), the ring doubled when its slots run out. A slot starts at
its *origin*, the stream's point count when the slot was assigned (after a restore, a
rebalance or a device failure, older points are on the host only), and holds the last
``capacity`` points; a window is gathered only when all its points are in the slot, others
keep the host path. Intake and rebalancing both run on the event loop: no locking is needed.

All rings share one ``device.SideStream`` (made with the first slot: a device that cannot
make it leaves every stream on the host path); so does joining two gathered batches. None of it
waits for the compute thread's batches on the default stream. Each ``DeviceBatch`` carries the
event after which its points are written (``ready``), which the compute side waits for on the
device before reading them. A batch's memory returns to the rings' stream's pool when the batch
is dropped, after the compute side copied its results to the host.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_tda import device
from gpu_tda.backends import Backend
from gpu_tda.streaming.device_ring import DeviceRingBuffers
from gpu_tda.streaming.ring_buffer import DueWindow, RingBuffer

log = logging.getLogger(__name__)

INITIAL_SLOTS = 64
"""Slots of a new ring (streams of one dimension) before it first doubles."""


@dataclass
class DeviceBatch:
    """Due windows of one size and dimension gathered on the device: one GPU call.

    ``indices``: the windows' positions in the job's due list; ``points``: their
    (B, size, dim) float64 device array; ``windows``: the same windows' host points, from
    which the CPU redoes them when the GPU call fails; ``stream``: the rings' stream, on which
    ``points`` were written; ``ready``: an event that completes once they are (``wait_for`` it
    before reading ``points`` on another stream).
    """

    indices: list[int]
    points: Any
    windows: list[np.ndarray]
    stream: device.SideStream
    ready: Any

    def shifted(self, base: int) -> DeviceBatch:
        """The same batch in a due list that has ``base`` windows before this one's."""
        indices = [base + i for i in self.indices]
        return DeviceBatch(indices, self.points, self.windows, self.stream, self.ready)

    def joined(self, later: DeviceBatch) -> DeviceBatch:
        """This batch followed by ``later`` (same size and dimension), joined on the rings'
        stream."""
        with self.stream:
            points = device.array_module().concatenate((self.points, later.points))
        indices, windows = self.indices + later.indices, self.windows + later.windows
        return DeviceBatch(indices, points, windows, self.stream, self.stream.record())


@dataclass
class _Slot:
    dim: int
    index: int
    origin: int  # the stream's point count when the slot started
    end: int  # the stream's point count after the last staged point


class DeviceMirror:
    """Device ring buffers following the host ring buffers of a worker (see module doc)."""

    def __init__(self, capacity: int, initial_slots: int = INITIAL_SLOTS) -> None:
        if capacity < 1 or initial_slots < 1:
            raise ValueError(
                f"capacity and initial_slots must be >= 1, got {capacity=}, {initial_slots=}"
            )
        self.capacity = int(capacity)
        self._initial_slots = int(initial_slots)
        self._stream: device.SideStream | None = None
        self._rings: dict[int, DeviceRingBuffers] = {}
        self._free: dict[int, list[int]] = {}
        self._slots: dict[tuple[int | None, str], _Slot] = {}
        self._staged: dict[int, list[tuple[int, np.ndarray]]] = {}

    def stage(self, partition: int | None, buf: RingBuffer, points: np.ndarray, start: int) -> None:
        """Queue ``points``, appended to ``buf`` from per-stream index ``start`` on, for the
        next ``flush``."""
        key = (partition, buf.stream)
        slot = self._slots.get(key)
        if slot is None or slot.end != start:  # new here, or the host moved on without us
            if slot is not None:
                self._free[self._slots.pop(key).dim].append(slot.index)
            try:
                index = self._take(buf.dim)
            except Exception:  # the device is not usable now: this stream's windows use the host
                log.exception("no device ring slot for stream %r", buf.stream)
                return
            slot = self._slots[key] = _Slot(buf.dim, index, start, start)
        self._staged.setdefault(slot.dim, []).append((slot.index, points))
        slot.end += points.shape[0]

    def flush(self) -> None:
        """Copy the staged points to the device: one ``append_many`` per ring."""
        staged, self._staged = self._staged, {}
        for dim, rows in staged.items():
            slot_ids = np.concatenate([np.full(p.shape[0], s, np.int64) for s, p in rows])
            try:
                self._rings[dim].append_many(slot_ids, np.concatenate([p for _, p in rows]))
            except Exception:
                log.exception("device ring append failed; dim-%d streams restart their slots", dim)
                self._drop(dim)

    def gather(
        self, due: Sequence[DueWindow], backends: Sequence[str]
    ) -> dict[tuple[int, int], DeviceBatch]:
        """The GPU windows of ``due`` whose points are all in their slots, gathered per
        (size, dim). Call after ``flush``."""
        picks: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for i, (window, backend) in enumerate(zip(due, backends, strict=True)):
            slot = self._slots.get((window.partition, window.stream))
            if backend != Backend.GPU.value or slot is None:
                continue
            ring = self._rings[slot.dim]
            start = window.spec.first_index(window.seq) - slot.origin
            if start >= max(0, ring.written(slot.index) - ring.capacity):
                picks.setdefault((window.spec.size, slot.dim), []).append((i, slot.index, start))
        batches = {}
        for (size, dim), rows in picks.items():
            indices, slot_ids, starts = (list(column) for column in zip(*rows, strict=True))
            try:
                points = self._rings[dim].gather(slot_ids, starts, size)
            except Exception:
                log.exception("device ring gather failed; %d windows use host points", len(rows))
                continue
            host = [due[i].points for i in indices]
            stream = self._rings[dim].stream
            batches[(size, dim)] = DeviceBatch(indices, points, host, stream, stream.record())
        return batches

    def release(self, partition: int) -> None:
        """Free the slots of ``partition``'s streams (the partition left this worker)."""
        for key in [k for k in self._slots if k[0] == partition]:
            slot = self._slots.pop(key)
            self._free[slot.dim].append(slot.index)

    def memory_bytes(self) -> int:
        """Device bytes held by the rings."""
        return sum(ring.memory_bytes() for ring in self._rings.values())

    def origin(self, partition: int | None, stream: str) -> int | None:
        """The stream's point count when its slot started (None: no slot)."""
        slot = self._slots.get((partition, stream))
        return None if slot is None else slot.origin

    def slots(self, dim: int) -> int:
        """Slots of the ring of dimension ``dim`` (0 before its first stream)."""
        ring = self._rings.get(dim)
        return 0 if ring is None else ring.slots

    def _take(self, dim: int) -> int:
        """A free slot of the ring of dimension ``dim`` (created or doubled as needed), reset."""
        ring = self._rings.get(dim)
        if ring is None:
            if self._stream is None:
                self._stream = device.SideStream()
            ring = DeviceRingBuffers(self.capacity, dim, self._initial_slots, self._stream)
            self._rings[dim] = ring
            self._free[dim] = list(range(ring.slots - 1, -1, -1))
        free = self._free[dim]
        if not free:
            old = ring.slots
            ring.grow(2 * old)
            free.extend(range(2 * old - 1, old - 1, -1))
        index = free.pop()
        ring.reset(index)
        return index

    def _drop(self, dim: int) -> None:
        """Forget the ring of dimension ``dim``: its streams get new slots at their next points."""
        del self._rings[dim], self._free[dim]
        for key in [k for k, slot in self._slots.items() if slot.dim == dim]:
            del self._slots[key]
