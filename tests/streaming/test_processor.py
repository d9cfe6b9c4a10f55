"""The embeddable StreamingProcessor: due windows, batches, diagrams equal to ripser's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpu_tda.streaming import (
    DataWindow,
    StreamingProcessor,
    StreamingTDAProcessor,
    WindowDiagram,
)
from tests.diagram_oracle import assert_same_diagrams, ripser_diagrams


def circle(n: int, seed: int, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=noise, size=(n, 2))


def test_push_returns_due_windows_whose_diagrams_equal_ripser():
    proc = StreamingProcessor(windows=[16, 24], stride=8, maxdim=1, backend="cpu")
    X = circle(64, seed=0)
    out: list[WindowDiagram] = []
    for chunk in np.array_split(X, 5):
        out += proc.push("sensor-7", chunk)
    assert sorted(w.key for w in out) == sorted(
        [("sensor-7", 16, k) for k in range(7)] + [("sensor-7", 24, k) for k in range(6)]
    )
    for w in out:
        assert (w.stride, w.backend, w.maxdim) == (8, "cpu", 1)
        assert w.compute_ms >= 0 and math.isinf(w.threshold)
        start = w.seq * w.stride
        assert_same_diagrams(w.diagrams, ripser_diagrams(X[start : start + w.size], maxdim=1))


def test_push_many_equals_push_stream_by_stream():
    data = {f"s{i}": circle(40, seed=i) for i in range(4)}
    data["walk"] = np.cumsum(np.random.default_rng(9).normal(size=(40, 3)), axis=0)
    many = StreamingProcessor(windows=[16], stride=8, maxdim=1, backend="cpu")
    one = StreamingProcessor(windows=[16], stride=8, maxdim=1, backend="cpu")
    got_many = many.push_many({k: v[:25] for k, v in data.items()})
    got_many += many.push_many({k: v[25:] for k, v in data.items()})
    got_one = []
    for k, v in data.items():
        got_one += one.push(k, v[:25])
    for k, v in data.items():
        got_one += one.push(k, v[25:])
    assert sorted(w.key for w in got_many) == sorted(w.key for w in got_one)
    by_key = {w.key: w for w in got_one}
    for w in got_many:
        assert w.same_bars(by_key[w.key])


def test_push_many_computes_each_size_as_one_batch():
    calls = []

    def recording_batch(windows, *, maxdim, threshold, backend):
        calls.append((len(windows), {w.shape[0] for w in windows}, backend))
        return [ripser_diagrams(w, maxdim) for w in windows]

    proc = StreamingProcessor(windows=[8, 12], stride=4, maxdim=1, compute_fn=recording_batch)
    proc.push_many({f"s{i}": circle(20, seed=i) for i in range(3)})
    # sizes 8 and 12, three streams: windows 0..3 of size 8 and 0..2 of size 12 per stream
    assert sorted(calls, key=lambda c: min(c[1])) == [(12, {8}, "cpu"), (9, {12}, "cpu")]


def test_threshold_and_maxdim_reach_the_engine():
    proc = StreamingProcessor(windows=[20], stride=20, maxdim=0, threshold=0.3, backend="cpu")
    X = circle(20, seed=3)
    (w,) = proc.push("s", X)
    assert len(w.diagrams) == 1 and w.threshold == 0.3
    assert_same_diagrams(w.diagrams, ripser_diagrams(X, maxdim=0, threshold=0.3))


def test_streams_keep_their_own_dimension_and_buffers():
    proc = StreamingProcessor(windows=[4], stride=2, backend="cpu")
    proc.push("plane", np.zeros((3, 2)))
    proc.push("space", np.zeros((3, 3)))
    assert proc.streams == ["plane", "space"]
    assert proc.buffer("space").dim == 3
    assert proc.memory_bytes() == sum(proc.buffer(s).memory_bytes() for s in proc.streams)
    with pytest.raises(ValueError, match="2 coordinates"):
        proc.push("plane", np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        proc.push("plane", np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="non-empty"):
        proc.push("", np.zeros((1, 2)))
    assert proc.push("plane", np.array([1.0, 2.0])) != []  # one point as a 1-D array


def test_the_processor_and_buffer_satisfy_the_protocols():
    proc = StreamingProcessor(windows=[4], stride=2, backend="cpu")
    proc.push("s", np.zeros((1, 2)))
    assert isinstance(proc, StreamingTDAProcessor)
    assert isinstance(proc.buffer("s"), DataWindow)


def test_a_gpu_batch_that_fails_is_recomputed_on_the_cpu():
    from gpu_tda.streaming.batch import BatchStats, WindowComputer
    from gpu_tda.streaming.ring_buffer import RingBuffer
    from gpu_tda.streaming.windows import WindowSpec

    def flaky(windows, *, maxdim, threshold, backend):
        if backend == "gpu":
            raise MemoryError("out of memory on the device")
        return [ripser_diagrams(w, maxdim) for w in windows]

    computer = WindowComputer(maxdim=1, backend="cpu", compute_fn=flaky)
    due = RingBuffer("s", (WindowSpec(10, 10),), 2).append(circle(10, seed=1))
    stats = BatchStats()
    (w,) = computer.compute(due, backends=["gpu"], stats=stats)
    assert w.backend == "cpu" and stats.fallbacks == ["out_of_memory"]
    assert_same_diagrams(w.diagrams, ripser_diagrams(circle(10, seed=1), 1))
