"""Per-stream ring buffers kept on the device, feeding the GPU engine without host round trips.

``append`` copies a decoded micro-batch to the device once and scatters it into each stream's
slot; ``gather`` assembles due windows into a (B, n, dim) device batch for
``GpuEngine.persistence_of_batch``. The per-slot point counters stay on the host.

All the rings' device work runs on a ``device.SideStream``, not the default stream where the
compute thread's batches run, so an append on the event loop never waits for them. A gathered
batch is complete once the work queued on that stream is: ``record`` an event after the gather
and ``device.wait_for`` it on the stream that reads the batch (``DeviceMirror`` does).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gpu_tda import device
from gpu_tda.kernels.cuda_ring import gather_windows, scatter_points


class DeviceRingBuffers:
    """``slots`` ring buffers of ``capacity`` points of dimension ``dim`` in one device array.

    A slot holds one stream's last ``capacity`` points; point p of a slot (counting from 0
    since the slot was reset) is at ring position ``p % capacity``.
    """

    def __init__(
        self, capacity: int, dim: int, slots: int, stream: device.SideStream | None = None
    ) -> None:
        if capacity < 1 or dim < 1 or slots < 1:
            raise ValueError(
                f"capacity, dim and slots must be >= 1, got {capacity}, {dim}, {slots}"
            )
        self.capacity = int(capacity)
        self.dim = int(dim)
        self.slots = int(slots)
        self._xp = device.array_module()
        self.stream = device.SideStream() if stream is None else stream
        with self.stream:
            self._ring = self._xp.zeros((self.slots, self.capacity, self.dim), dtype=np.float64)
        self._written = np.zeros(self.slots, dtype=np.int64)
        small = device.simulator_enabled()  # one Python thread per CUDA thread there
        self._threads, self._blocks = (8, 2) if small else (128, 1024)

    @property
    def array(self) -> Any:
        """The (slots, capacity, dim) float64 device array itself."""
        return self._ring

    def written(self, slot: int) -> int:
        """Points appended to ``slot`` since it was last reset."""
        return int(self._written[self._check_slot(slot)])

    def reset(self, slot: int) -> None:
        """Forget a slot's points (to hand the slot to another stream)."""
        self._written[self._check_slot(slot)] = 0

    def grow(self, slots: int) -> None:
        """Hold ``slots`` slots from now on (at least as many as now), keeping every slot's
        points: one device-to-device copy into a larger array."""
        if slots < self.slots:
            raise ValueError(f"cannot shrink {self.slots} slots to {slots}")
        with self.stream:
            ring = self._xp.zeros((slots, self.capacity, self.dim), dtype=np.float64)
            ring[: self.slots] = self._ring
        self._ring = ring
        self._written = np.concatenate((self._written, np.zeros(slots - self.slots, np.int64)))
        self.slots = int(slots)

    def append(self, slot: int, points: Any) -> None:
        """Append (k, dim) points to one slot."""
        pts = self._as_points(points)
        self.append_many(np.full(pts.shape[0], self._check_slot(slot), dtype=np.int64), pts)

    def append_many(self, slots: np.ndarray, points: Any) -> None:
        """Append row i of ``points`` (m, dim) to slot ``slots[i]``, in row order per slot.

        One host-to-device copy and one kernel launch for the whole micro-batch. Rows that
        later rows of the same batch would overwrite are not written.
        """
        slot_ids = np.asarray(slots, dtype=np.int64).reshape(-1)
        pts = self._as_points(points)
        if slot_ids.shape[0] != pts.shape[0]:
            raise ValueError(f"{slot_ids.shape[0]} slot ids for {pts.shape[0]} points")
        if slot_ids.size == 0:
            return
        if slot_ids.min() < 0 or slot_ids.max() >= self.slots:
            raise ValueError(f"slot ids must be in 0..{self.slots - 1}")
        order = np.argsort(slot_ids, kind="stable")
        sorted_ids = slot_ids[order]
        counts = np.bincount(slot_ids, minlength=self.slots)
        group_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(slot_ids.shape[0]) - group_start[sorted_ids]
        keep_sorted = rank >= counts[sorted_ids] - self.capacity
        rows = order[keep_sorted]
        positions = self._written[sorted_ids[keep_sorted]] + rank[keep_sorted]
        upload = self.stream.upload
        with self.stream:
            scatter_points(
                self._ring,
                upload(pts[rows]) if isinstance(pts, np.ndarray) else pts[upload(rows)],
                upload(slot_ids[rows]),
                upload(positions),
                self._threads,
                self._blocks,
                self.stream.launch,
            )
        self._written += counts

    def gather(self, slots: Any, starts: Any, size: int) -> Any:
        """Windows ``[starts[b], starts[b] + size)`` of slots ``slots[b]`` as a (B, size, dim)
        float64 device batch, queued on ``stream`` (see the module doc). Each window must still
        be held in its ring. The batch's memory goes back to ``stream``'s pool when it is
        freed: keep it until its readers on other streams have finished."""
        slot_ids = np.asarray(slots, dtype=np.int64).reshape(-1)
        first = np.asarray(starts, dtype=np.int64).reshape(-1)
        if slot_ids.shape != first.shape:
            raise ValueError("slots and starts must have the same length")
        if not 0 < size <= self.capacity:
            raise ValueError(f"window size must be in 1..{self.capacity}, got {size}")
        if slot_ids.size and (slot_ids.min() < 0 or slot_ids.max() >= self.slots):
            raise ValueError(f"slot ids must be in 0..{self.slots - 1}")
        held = self._written[slot_ids]
        bad = (first < 0) | (first + size > held) | (first < held - self.capacity)
        if bad.any():
            b = int(np.argmax(bad))
            raise ValueError(
                f"window {b} (slot {slot_ids[b]}, points {first[b]}..{first[b] + size - 1}) is "
                f"not in the ring, which holds points {max(0, held[b] - self.capacity)}.."
                f"{held[b] - 1}"
            )
        with self.stream:
            return gather_windows(
                self._ring,
                self.stream.upload(slot_ids),
                self.stream.upload(first),
                self._xp.empty((slot_ids.shape[0], size, self.dim), dtype=np.float64),
                self._threads,
                self._blocks,
                self.stream.launch,
            )

    def memory_bytes(self) -> int:
        """Device bytes held by the ring array."""
        return int(self.slots * self.capacity * self.dim * 8)

    def _check_slot(self, slot: int) -> int:
        if not 0 <= int(slot) < self.slots:
            raise ValueError(f"slot must be in 0..{self.slots - 1}, got {slot}")
        return int(slot)

    def _as_points(self, points: Any) -> Any:
        if isinstance(points, np.ndarray) or not hasattr(points, "__cuda_array_interface__"):
            pts = np.ascontiguousarray(points, dtype=np.float64)
        else:
            pts = points
        if pts.ndim != 2 or pts.shape[1] != self.dim:
            raise ValueError(f"points must have shape (k, {self.dim}), got {tuple(pts.shape)}")
        return pts


def warm_up() -> float:
    """Append one point to a throwaway ring and gather it back, so the ring kernels compile now
    rather than at a worker's first flush (about a second), and a device that returns wrong
    points fails here, with a clear error. Returns the seconds it took."""
    started = time.perf_counter()
    rings = DeviceRingBuffers(capacity=2, dim=1, slots=1)
    rings.append_many(np.zeros(1, dtype=np.int64), np.array([[1.5]]))
    batch = rings.gather(np.zeros(1, np.int64), np.zeros(1, np.int64), 1)
    device.wait_for(rings.stream.record())
    got = device.to_host(batch)
    if got.tolist() != [[[1.5]]]:
        raise RuntimeError(f"the device ring gave back {got.tolist()} for the point [1.5]")
    return time.perf_counter() - started
