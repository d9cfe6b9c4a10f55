"""The batched intake (binary runs applied by one kernel call per store) against applying the
same records one at a time through ``decode`` and ``RingBuffer.append``: the same windows in the
same order, the same dead letters and the same checkpoint."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_tda.streaming import encode_points_binary
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.decode import HEADER
from gpu_tda.streaming.intake import Job, apply_record, apply_records, warm_up
from gpu_tda.streaming.ring_buffer import DueWindow
from gpu_tda.streaming.windows import make_specs
from tests.streaming.partition_records import make_partition

SPECS = make_specs(["6:2", "9:4", "4:4"], 1)


def window_fields(w: DueWindow) -> tuple:
    return (w.stream, w.spec, w.seq, w.first_offset, w.last_offset, w.start_ts, w.end_ts,
            w.partition)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 150),
    batch=st.integers(1, 40),
    scales=st.integers(1, 3),
)
def test_batched_intake_equals_one_record_at_a_time(seed, n, batch, scales):
    specs = SPECS[:scales]
    records = make_partition(seed, n)
    one, one_job = PartitionState("points", 0, specs, start_offset=0), Job()
    for record in records:
        apply_record(one, record, one_job)
        one.advance(record.offset)
    many, many_job = PartitionState("points", 0, specs, start_offset=0), Job()
    for start in range(0, n, batch):
        apply_records(many, records[start : start + batch], many_job)

    assert [window_fields(w) for w in many_job.due] == [window_fields(w) for w in one_job.due]
    for got, want in zip(many_job.due, one_job.due, strict=True):
        assert got.points.shape == (got.spec.size, len(got.points[0]))
        np.testing.assert_array_equal(got.points, want.points)
    assert [(d.value, d.headers) for d in many_job.dead_letters] == [
        (d.value, d.headers) for d in one_job.dead_letters
    ]
    assert many_job.points == one_job.points and many_job.records == n
    assert many.snapshot() == one.snapshot()
    for stream, buf in one.buffers.items():
        assert many.buffers[stream].count == buf.count


def test_refused_binary_messages_of_a_running_stream_keep_decodes_reasons():
    """Each bad binary message (8-byte multiples: the kernel reads them) becomes a dead letter
    with ``decode``'s reason, and the stream's windows do not shift."""
    good = [encode_points_binary(np.full((2, 2), float(i))) for i in range(4)]
    nan = encode_points_binary(np.array([[0.0, np.inf]]))
    bad = [
        (encode_points_binary(np.zeros((2, 3))), "wrong_dimension"),
        (nan, "non_finite"),
        (good[0][:-8], "bad_binary"),
        (b"GTDA" + bytes([2]) + good[0][5:], "bad_binary"),
        (HEADER.pack(b"GTDA", 1, 1, 2, 1, 0), "bad_binary"),  # ts flag, no ts
        (HEADER.pack(b"GTDA", 1, 0, 2, 0, 0), "bad_shape"),
    ]
    values = [good[0], *[v for v, _ in bad[:3]], good[1], *[v for v, _ in bad[3:]], *good[2:]]
    records = [
        SimpleNamespace(
            key=b"s", value=v, offset=i, timestamp=0, headers=(), topic="p", partition=0
        )
        for i, v in enumerate(values)
    ]
    state, job = PartitionState("p", 0, make_specs(["4:2"], 1), start_offset=0), Job()
    apply_records(state, records[:1], job)  # the stream runs: the rest takes the fast path
    apply_records(state, records[1:], job)
    assert [d.reason for d in job.dead_letters] == [r for _, r in bad]
    assert [d.value for d in job.dead_letters] == [v for v, _ in bad]
    assert [w.seq for w in job.due] == [0, 1, 2]
    np.testing.assert_array_equal(job.due[2].points, np.repeat([2.0, 3.0], 2)[:, None] * [1, 1])
    assert state.snapshot()["position"] == len(values)


def test_warm_up_compiles_every_intake_kernel():
    from gpu_tda.streaming import json_kernels, ring_kernels

    assert warm_up(SPECS) > 0
    assert ring_kernels.append_points.signatures and ring_kernels.append_binary.signatures
    assert json_kernels.json_to_binary.signatures
