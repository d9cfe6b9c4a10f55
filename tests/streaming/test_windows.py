"""Window definitions and the ring buffer that cuts them: seqs, boundaries, big pushes, memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.streaming import RingBuffer, WindowConfigError, WindowSpec
from gpu_tda.streaming.ring_buffer import RingStore
from gpu_tda.streaming.windows import make_specs, parse_window


def cut_all(buf: RingBuffer, X: np.ndarray, chunks: list[int]) -> list[tuple[int, int, np.ndarray]]:
    """Append X in chunks of the given sizes; return (size, seq, points) of every due window."""
    out, start = [], 0
    for n in chunks:
        for w in buf.append(X[start : start + n]):
            out.append((w.spec.size, w.seq, w.points))
        start += n
    return out


def expected(X: np.ndarray, specs: tuple[WindowSpec, ...]) -> dict[tuple[int, int], np.ndarray]:
    out = {}
    for spec in specs:
        k = 0
        while spec.last_index(k) < len(X):
            out[(spec.size, k)] = X[spec.first_index(k) : spec.last_index(k) + 1]
            k += 1
    return out


def test_window_k_holds_points_kS_to_kS_plus_N_minus_1_and_is_due_at_its_last_point():
    spec = WindowSpec(16, 4)
    buf = RingBuffer("s", (spec,), dim=2)
    X = np.arange(80, dtype=np.float64).reshape(40, 2)
    for i in range(40):
        due = buf.append(X[i : i + 1])
        if i >= 15 and (i - 15) % 4 == 0:
            assert [w.seq for w in due] == [(i - 15) // 4]
            np.testing.assert_array_equal(due[0].points, X[i - 15 : i + 1])
        else:
            assert due == []


def test_one_push_completing_many_windows_equals_point_by_point():
    specs = make_specs([16, 24], 4)
    X = np.random.default_rng(0).normal(size=(203, 3))
    one = cut_all(RingBuffer("s", specs, 3), X, [1] * 203)
    big = cut_all(RingBuffer("s", specs, 3), X, [203])
    assert [(s, k) for s, k, _ in one] == [(s, k) for s, k, _ in big]
    ref = expected(X, specs)
    assert {(s, k) for s, k, _ in big} == set(ref)
    for s, k, pts in big:
        np.testing.assert_array_equal(pts, ref[(s, k)])


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.integers(1, 70), min_size=1, max_size=12),
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=3, unique=True),
    stride=st.integers(1, 40),
)
def test_any_chunking_cuts_the_same_windows(chunks, sizes, stride):
    specs = make_specs(sizes, stride)
    X = np.random.default_rng(1).normal(size=(sum(chunks), 2))
    got = cut_all(RingBuffer("s", specs, 2), X, chunks)
    ref = expected(X, specs)
    assert len(got) == len(ref)
    for s, k, pts in got:
        np.testing.assert_array_equal(pts, ref[(s, k)])
    # windows come in the order their last point arrived
    lasts = [k * stride + s - 1 for s, k, _ in got]
    assert lasts == sorted(lasts)


def test_stride_larger_than_size_leaves_gaps():
    buf = RingBuffer("s", (WindowSpec(4, 10),), 1)
    X = np.arange(35, dtype=np.float64).reshape(-1, 1)
    got = cut_all(buf, X, [7, 7, 7, 7, 7])
    assert [(k, pts[:, 0].tolist()) for _, k, pts in got] == [
        (0, [0, 1, 2, 3]),
        (1, [10, 11, 12, 13]),
        (2, [20, 21, 22, 23]),
        (3, [30, 31, 32, 33]),
    ]


def test_scales_share_one_buffer_sized_for_the_largest():
    specs = make_specs([32, 128, 128, 64], 16)
    assert [s.size for s in specs] == [32, 64, 128]
    buf = RingBuffer("s", specs, 3)
    assert buf.capacity == 128
    assert buf.memory_bytes() == 128 * 3 * 8 + 3 * 128 * 8 + 4 * 8  # points, their meta, cursor
    buf.append(np.zeros((1000, 3)))
    assert buf.memory_bytes() == 128 * 3 * 8 + 3 * 128 * 8 + 4 * 8


def test_offsets_and_timestamps_of_a_window_come_from_its_first_and_last_points():
    buf = RingBuffer("s", (WindowSpec(4, 2),), 1, partition=3)
    due = []
    for offset in range(10, 15):  # 5 messages of 2 points each
        due += buf.append(np.zeros((2, 1)), offset=offset, ts=1000 + offset)
    assert [(w.seq, w.first_offset, w.last_offset, w.start_ts, w.end_ts) for w in due] == [
        (0, 10, 11, 1010, 1011),
        (1, 11, 12, 1011, 1012),
        (2, 12, 13, 1012, 1013),
        (3, 13, 14, 1013, 1014),
    ]
    assert all(w.partition == 3 for w in due)


def test_replay_entries_track_the_next_window():
    buf = RingBuffer("s", (WindowSpec(8, 4),), 1)
    entry = lambda: buf.store.replay_entries(np.array([buf.slot])).tolist()[0]  # noqa: E731
    buf.append(np.zeros((3, 1)), offset=0)
    buf.append(np.zeros((3, 1)), offset=1)  # points 0..5; window 0 needs 0..7
    assert entry() == [0, 0, 6, 1]  # replay from offset 0, whose first point is index 0
    buf.append(np.zeros((3, 1)), offset=2)  # points 6..8: window 0 done, window 1 needs 4..11
    assert entry() == [1, 3, 9, 1]  # offset 1 holds points 3..5
    gaps = RingBuffer("g", (WindowSpec(2, 4),), 2, count=0)  # windows skip points 2, 3, 6, 7, ...
    gaps.append(np.zeros((3, 2)), offset=7)  # points 0..2: window 0 done, window 1 needs 4..5
    assert gaps.store.replay_entries(np.array([gaps.slot])).tolist() == [[8, 3, 3, 2]]


def test_replay_entries_of_many_streams_at_once_equal_each_alone():
    specs = (WindowSpec(5, 2), WindowSpec(8, 3))
    store = RingStore(specs, 1)
    rng = np.random.default_rng(4)
    bufs = [RingBuffer(f"s{i}", specs, 1, store=store) for i in range(6)]
    for offset in range(40):
        buf = bufs[int(rng.integers(len(bufs)))]
        buf.append(np.zeros((int(rng.integers(1, 4)), 1)), offset=offset)
        slots = np.arange(len(bufs))
        together = store.replay_entries(slots).tolist()
        assert together == [store.replay_entries(np.array([s])).tolist()[0] for s in slots]
        for buf_, (a, b, u, d) in zip(bufs, together, strict=True):
            needed = buf_.next_needed_index()
            assert u == buf_.count and d == 1
            if needed < buf_.count:  # the message holding the oldest point still needed
                ring = store.meta[buf_.slot, max(needed, buf_.valid_from) % store.capacity]
                assert (a, b) == (ring[0], ring[2])
            else:
                assert (a, b) == (buf_.last_offset + 1, buf_.count)


def test_window_specs_are_validated():
    with pytest.raises(WindowConfigError):
        WindowSpec(0, 1)
    with pytest.raises(WindowConfigError):
        WindowSpec(8, 0)
    with pytest.raises(WindowConfigError):
        make_specs([], 4)
    with pytest.raises(WindowConfigError):
        make_specs(["128:32", "128:64"], 4)  # one size, two strides: ambiguous window names
    with pytest.raises(WindowConfigError):
        parse_window("big", 4)
    with pytest.raises(WindowConfigError):
        make_specs([16, 32], [4])
    assert make_specs(["512:64", 128], 32) == (WindowSpec(128, 32), WindowSpec(512, 64))
    assert make_specs([16, 32], [4, 8]) == (WindowSpec(16, 4), WindowSpec(32, 8))


def test_wrong_dimension_is_refused_by_the_buffer():
    buf = RingBuffer("s", (WindowSpec(4, 1),), 2)
    with pytest.raises(ValueError, match="dimension 2"):
        buf.append(np.zeros((1, 3)))
