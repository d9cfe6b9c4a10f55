"""Checkpoint + replay without Kafka: a restarted partition re-cuts exactly the same windows.

A partition is simulated as a list of records (``partition_records``: streams interleaved, many
points per message, some invalid), handled in micro-batches. The first run handles a prefix and
checkpoints somewhere inside it; the restart restores the checkpoint and replays from its
offset. Every window of an uninterrupted run must be emitted by one of the two runs, with
identical points, and windows published before the checkpoint must not be cut again.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.streaming import encode_points_json
from gpu_tda.streaming.checkpoint import (
    PartitionState,
    decode_checkpoint,
    encode_checkpoint,
)
from gpu_tda.streaming.intake import Job, apply_records
from gpu_tda.streaming.windows import make_specs
from tests.streaming.partition_records import make_partition

SPECS = make_specs(["6:2", "9:4"], 1)


def run(state: PartitionState, records: list[SimpleNamespace]) -> dict[tuple, np.ndarray]:
    """Handle records in micro-batches of 6; return the windows cut, by (stream, size, seq)."""
    job = Job()
    for start in range(0, len(records), 6):
        apply_records(state, records[start : start + 6], job)
    out = {}
    for w in job.due:
        key = (w.stream, w.spec.size, w.seq)
        assert key not in out, f"{key} cut twice in one run"
        out[key] = w.points
    return out


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 120),
    data=st.data(),
)
def test_restart_from_checkpoint_emits_every_window_identically(seed, n, data):
    records = make_partition(seed, n)
    reference = run(PartitionState("points", 0, SPECS, start_offset=0), records)

    crash = data.draw(st.integers(1, n), label="records handled before the crash")
    ckpt = data.draw(st.integers(0, crash), label="records handled at the last checkpoint")
    first = PartitionState("points", 0, SPECS, start_offset=0)
    emitted_before = run(first, records[:ckpt])
    doc = decode_checkpoint(encode_checkpoint(first.snapshot()))
    emitted_after_ckpt = run(first, records[ckpt:crash])  # published, not checkpointed

    assert doc["position"] == ckpt and doc["offset"] <= ckpt
    restored = PartitionState.restore("points", 0, SPECS, doc)
    replayed = run(restored, records[doc["offset"] :])

    assert not set(replayed) & set(emitted_before), "windows published before the checkpoint"
    seen = {**emitted_before, **emitted_after_ckpt, **replayed}
    assert set(seen) == set(reference)
    for key, points in seen.items():
        np.testing.assert_array_equal(points, reference[key])
    for key in set(emitted_after_ckpt) & set(replayed):
        np.testing.assert_array_equal(emitted_after_ckpt[key], replayed[key])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 150), min_size=1, max_size=4))
def test_repeated_crashes_during_replays_still_lose_nothing(seed, cuts):
    records = make_partition(seed, 150)
    reference = run(PartitionState("points", 0, SPECS, start_offset=0), records)
    seen: dict[tuple, np.ndarray] = {}
    doc = None
    for cut in sorted(cuts):
        state = (
            PartitionState("points", 0, SPECS, start_offset=0)
            if doc is None
            else PartitionState.restore("points", 0, SPECS, doc)
        )
        start = state.position
        if cut < start:
            continue
        seen.update(run(state, records[start:cut]))
        doc = state.snapshot()
    state = (
        PartitionState("points", 0, SPECS, start_offset=0)
        if doc is None
        else PartitionState.restore("points", 0, SPECS, doc)
    )
    seen.update(run(state, records[state.position :]))
    assert set(seen) == set(reference)
    for key, points in seen.items():
        np.testing.assert_array_equal(points, reference[key])


def test_checkpoint_offset_is_held_back_only_by_streams_needing_buffered_points():
    specs = make_specs(["4:4"], 1)
    state = PartitionState("points", 0, specs, start_offset=0)
    rec = lambda off, key, n: SimpleNamespace(  # noqa: E731
        key=key,
        value=encode_points_json(np.zeros((n, 1))),
        offset=off,
        timestamp=0,
        headers=(),
        topic="points",
        partition=0,
    )
    run(state, [rec(0, b"slow", 1), rec(1, b"fast", 4), rec(2, b"fast", 4), rec(3, b"fast", 2)])
    doc = state.snapshot()
    # "slow" has 1 of its first window's 4 points (at offset 0): replay must start there
    assert doc["offset"] == 0 and doc["position"] == 4
    assert doc["streams"]["slow"] == [0, 0, 1, 1]
    assert doc["streams"]["fast"] == [3, 8, 10, 1]  # points 8, 9 (offset 3) still needed
    run(state, [rec(4, b"slow", 3)])  # slow's window 0 done, nothing buffered is needed
    doc = state.snapshot()
    assert doc["streams"]["slow"] == [5, 4, 4, 1] and doc["offset"] == 3


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    restart_at=st.integers(0, 60),
    snapshots_at=st.lists(st.integers(0, 120), max_size=6),
)
def test_snapshots_along_the_way_equal_one_taken_at_the_end(seed, restart_at, snapshots_at):
    """A snapshot recomputes only the streams that changed since the previous one: taking
    several along the way must give the same document as taking one at the end."""
    records = make_partition(seed, 120)
    first = PartitionState("points", 0, SPECS, start_offset=0)
    run(first, records[:restart_at])
    doc = decode_checkpoint(encode_checkpoint(first.snapshot()))
    once = PartitionState.restore("points", 0, SPECS, doc)
    often = PartitionState.restore("points", 0, SPECS, doc)
    run(once, records[doc["offset"] :])
    start = doc["offset"]
    for cut in sorted(c for c in snapshots_at if c >= start):
        run(often, records[start:cut])
        often.snapshot()
        start = cut
    run(often, records[start:])
    assert often.snapshot() == once.snapshot()
