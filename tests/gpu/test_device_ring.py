"""Device ring buffers under the simulator, against a plain-list reference, wrap-around included."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_tda.gpu_engine import GpuEngine
from gpu_tda.kernels.cuda_ring import gather_windows, scatter_points
from gpu_tda.streaming import device_ring
from gpu_tda.streaming.device_ring import DeviceRingBuffers

pytestmark = pytest.mark.gpu_sim


def test_scatter_and_gather_kernels_wrap_around():
    ring = np.zeros((2, 5, 3))
    points = np.arange(21, dtype=np.float64).reshape(7, 3)
    slots = np.array([0, 0, 0, 1, 1, 1, 1])
    positions = np.array([3, 4, 5, 0, 1, 2, 3])
    scatter_points(ring, points, slots, positions, threads=4, max_blocks=2)
    assert ring[0, 3].tolist() == points[0].tolist() and ring[0, 0].tolist() == points[2].tolist()
    out = np.empty((2, 3, 3))
    gather_windows(ring, np.array([0, 1]), np.array([3, 1]), out, threads=4, max_blocks=1)
    assert np.array_equal(out[0], points[0:3]) and np.array_equal(out[1], points[4:7])


def test_micro_batches_against_reference(rng):
    buffers = DeviceRingBuffers(capacity=8, dim=2, slots=3)
    reference: list[list[np.ndarray]] = [[], [], []]
    for _ in range(7):
        m = int(rng.integers(0, 12))
        slots = rng.integers(0, 3, size=m)
        points = rng.normal(size=(m, 2))
        buffers.append_many(slots, points)
        for s, p in zip(slots, points, strict=True):
            reference[s].append(p)
        size = 5
        due = [(s, len(reference[s]) - size) for s in range(3) if len(reference[s]) >= size]
        if not due:
            continue
        batch = buffers.gather([s for s, _ in due], [a for _, a in due], size)
        assert batch.shape == (len(due), size, 2)
        for b, (s, a) in enumerate(due):
            assert np.array_equal(batch[b], np.array(reference[s][a : a + size]))
    assert [buffers.written(s) for s in range(3)] == [len(r) for r in reference]
    assert any(len(r) > 8 for r in reference)  # wrapped at least once


def test_a_micro_batch_longer_than_the_ring_keeps_its_last_points():
    buffers = DeviceRingBuffers(capacity=4, dim=1, slots=1)
    buffers.append(0, np.arange(10.0)[:, None])
    assert buffers.written(0) == 10
    assert buffers.gather([0], [6], 4)[0, :, 0].tolist() == [6.0, 7.0, 8.0, 9.0]
    assert buffers.gather([0], [7], 3)[0, :, 0].tolist() == [7.0, 8.0, 9.0]


def test_windows_outside_the_ring_are_refused():
    buffers = DeviceRingBuffers(capacity=4, dim=2, slots=2)
    buffers.append(1, np.ones((6, 2)))
    with pytest.raises(ValueError, match="not in the ring"):
        buffers.gather([1], [1], 4)  # overwritten already
    with pytest.raises(ValueError, match="not in the ring"):
        buffers.gather([1], [3], 4)  # not all arrived
    with pytest.raises(ValueError, match="shape"):
        buffers.append(0, np.ones((2, 3)))
    with pytest.raises(ValueError, match="slot"):
        buffers.append(2, np.ones((1, 2)))
    buffers.reset(1)
    assert buffers.written(1) == 0
    assert buffers.memory_bytes() == 2 * 4 * 2 * 8


def test_gathered_batch_feeds_the_engine(make_clouds):
    clouds = make_clouds([10, 10])
    buffers = DeviceRingBuffers(capacity=12, dim=2, slots=2)
    for slot, cloud in enumerate(clouds):
        buffers.append(slot, np.concatenate([np.zeros((7, 2)), cloud]))  # wraps: 17 > 12
    batch = buffers.gather([0, 1], [7, 7], 10)
    engine = GpuEngine()
    ours = engine.persistence_of_batch(batch, 1, np.inf)
    expected = engine.persistence_many(clouds, 1, np.inf, False, None)
    for a, b in zip(ours, expected, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)


def test_warm_up_round_trips_one_point_and_fails_loudly_when_the_device_does_not(monkeypatch):
    assert device_ring.warm_up() > 0

    def zeros(ring, slots, starts, out, threads, blocks, stream):  # a device losing the point
        out[...] = 0.0
        return out

    monkeypatch.setattr(device_ring, "gather_windows", zeros)
    with pytest.raises(RuntimeError, match="gave back"):
        device_ring.warm_up()
