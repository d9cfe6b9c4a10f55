"""10,000 malformed messages of 10 kinds between valid ones: all in the DLQ, worker alive."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gpu_tda.streaming import encode_points_binary
from gpu_tda.streaming import encode_points_json as encode_json
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

PER_KIND = 1000

BAD_BINARY = b"GTDA" + struct.pack("<BBHII", 1, 0, 2, 3, 0) + b"\0" * 8  # 3 points, 1 sent


def malformed(kind: str, i: int) -> tuple[bytes | None, bytes]:
    """One message of ``kind`` (its expected DLQ reason), distinct per ``i``."""
    key = f"bad-{i % 7}".encode()
    match kind:
        case "empty_key":
            return (None if i % 2 else b""), encode_json(np.ones((1, 2)) * i)
        case "bad_key":
            return b"\xff\xfe" + bytes([i % 200]), encode_json(np.ones((1, 2)))
        case "not_json":
            return key, b"{points: [[%d, 1]]" % i
        case "bad_schema":
            return key, b'{"pts": [[%d, 1]]}' % i
        case "bad_shape":
            return key, b'{"points": [[%d, 1], [2]]}' % i
        case "not_numeric":
            return key, b'{"points": [["%d", "y"]]}' % i
        case "non_finite":
            return key, b'{"points": [[NaN, %d]]}' % i
        case "wrong_dimension":  # "dim-2" was set to 2 coordinates by its first message
            return b"dim-2", encode_json(np.full((1, 3), float(i)))
        case "bad_ts":
            return key, b'{"points": [[%d, 1]], "ts": "yesterday"}' % i
        case "bad_binary":
            return key, BAD_BINARY + struct.pack("<I", i)
    raise AssertionError(kind)


KINDS = (
    "empty_key", "bad_key", "not_json", "bad_schema", "bad_shape",
    "not_numeric", "non_finite", "wrong_dimension", "bad_ts", "bad_binary",
)  # fmt: skip


async def test_ten_thousand_malformed_messages_all_reach_the_dlq(fault_settings):
    settings = fault_settings(max_batch_records=500, windows=("16",), stride=8)
    rng = np.random.default_rng(5)
    good = {"good-0": rng.normal(size=(200, 2)), "good-1": rng.normal(size=(200, 3))}
    expected = expected_windows(good, settings)
    messages: list[tuple[bytes | None, bytes]] = [(b"dim-2", encode_json(np.zeros((1, 2))))]
    bad: list[tuple[str, bytes | None, bytes]] = []
    for i in range(PER_KIND):
        for kind in KINDS:
            key, value = malformed(kind, i)
            bad.append((kind, key, value))
            messages.append((key, value))
        if i % 5 == 0:  # valid traffic in between: 1 point per stream every 5 rounds
            for name, points in good.items():
                chunk = points[i // 5 : i // 5 + 1]
                messages.append((name.encode(), encode_points_binary(chunk)))
    assert len(bad) == 10 * PER_KIND
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages)

    async with KafkaWorker(settings) as worker:
        handled = await worker.run(count=len(messages), timeout=180)
        assert handled == len(messages)
        assert worker.ready  # still consuming after the flood
        for kind in KINDS:
            assert worker.metrics.dlq_messages.labels(reason=kind)._value.get() == PER_KIND, kind

    dlq = await read_topic(
        settings.bootstrap_servers,
        settings.dlq_topic,
        until=lambda rs: len(rs) >= len(bad),
        timeout=60,
    )
    assert len(dlq) == len(bad)  # one dead letter per malformed message, no more
    got = sorted((dict(r.headers)["error.reason"].decode(), r.key or b"", r.value) for r in dlq)
    want = sorted((kind, key or b"", value) for kind, key, value in bad)
    assert got == want  # each unchanged, each with its own reason
    assert all(dict(r.headers)["error"].startswith(dict(r.headers)["error.reason"]) for r in dlq)

    records = await read_topic(
        settings.bootstrap_servers,
        settings.output_topic,
        until=lambda rs: len(rs) >= len(expected),
        quiet=0.5,
    )
    check_windows(records, expected, settings.maxdim, duplicates=False)
