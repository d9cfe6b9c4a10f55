"""The Kafka worker end to end on the embedded broker: windows, multi-scale, DLQ, metrics."""

from __future__ import annotations

import asyncio
import urllib.request

import numpy as np
import pytest

from gpu_tda.streaming import decode_diagram, encode_points_json
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
    run_until_published,
    synthetic_messages,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


async def test_windows_at_every_scale_equal_ripser_and_metrics_count_them(stream_settings):
    settings = stream_settings(metrics_port=0)
    data, messages = synthetic_messages(streams=4, messages_per_stream=12, seed=1)
    expected = expected_windows(data, settings)
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages)

    async with KafkaWorker(settings) as worker:
        handled = await worker.run(count=len(messages), timeout=90)
        assert handled == len(messages)
        base = f"http://127.0.0.1:{worker.metrics_port}"
        status, text = await asyncio.to_thread(_get, base + "/metrics")
        assert status == 200
        assert (await asyncio.to_thread(_get, base + "/healthz"))[0] == 200
        assert (await asyncio.to_thread(_get, base + "/readyz"))[0] == 200

    records = await read_topic(
        settings.bootstrap_servers,
        settings.output_topic,
        until=lambda rs: len(rs) >= len(expected),
        quiet=0.5,
    )
    seen = check_windows(records, expected, settings.maxdim, duplicates=False)
    sizes = {wd.size for wd in seen.values()}
    assert sizes == {16, 24}
    for wd in seen.values():
        assert wd.backend == "cpu" and wd.maxdim == 1 and wd.stride == 4
        assert wd.first_offset <= wd.last_offset and wd.partition in (0, 1)
        assert wd.start_ts > 0 and wd.end_ts >= wd.start_ts and wd.emitted_ts >= wd.end_ts

    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(samples['tda_windows_total{backend="cpu"}']) == len(expected)
    assert float(samples["tda_points_total"]) == sum(len(x) for x in data.values())
    received = f'kafka_messages_received_total{{topic="{settings.input_topic}"}}'
    assert float(samples[received]) == len(messages)
    assert 'tda_compute_seconds_bucket{backend="cpu",le="5e-05",maxdim="1"}' in samples
    for name in (
        "kafka_send_latency_seconds_count",
        "tda_window_memory_bytes",
        "tda_end_to_end_latency_seconds_count",
        'tda_window_size{scale="1"}',
    ):
        assert name in samples, name


def data_keys(data):
    return [k.encode() for k in data]


BAD = [
    (b"stream-0", b"this is not json", "not_json"),
    (b"stream-0", b'{"points": [[1.0, 2.0], [3.0]]}', "bad_shape"),
    (b"stream-0", b'{"points": [[1.0, NaN]]}', "non_finite"),
    (b"stream-0", encode_points_json(np.zeros((2, 3))), "wrong_dimension"),  # stream-0 is 2-D
    (b"", encode_points_json(np.zeros((2, 2))), "empty_key"),
    (None, encode_points_json(np.zeros((2, 2))), "empty_key"),
    (b"stream-1", b'{"pts": []}', "bad_schema"),
    (b"stream-1", b"GTDA\x01\x00\x03\x00", "bad_binary"),
]


async def test_every_bad_message_goes_to_the_dlq_unchanged_and_other_windows_do_not_shift(
    stream_settings,
):
    settings = stream_settings(partitions=1)
    data, messages = synthetic_messages(streams=2, messages_per_stream=10, seed=2)
    # the bad messages come after each stream's first message (which fixes its dimension)
    head = max(messages.index(next(m for m in messages if m[0] == k)) for k in data_keys(data))
    mixed = messages[: head + 1]
    rest = messages[head + 1 :]
    for i, (key, value, _) in enumerate(BAD):
        mixed.append((key, value))
        mixed.extend(rest[2 * i : 2 * i + 2])
    mixed.extend(rest[2 * len(BAD) :])
    assert sorted(mixed, key=repr) == sorted(messages + [(k, v) for k, v, _ in BAD], key=repr)
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, mixed)

    async with KafkaWorker(settings) as worker:
        await worker.run(count=len(mixed), timeout=90)
        for _, _, reason in BAD:
            assert worker.metrics.dlq_messages.labels(reason=reason)._value.get() >= 1

    dead = await read_topic(
        settings.bootstrap_servers,
        settings.dlq_topic,
        until=lambda rs: len(rs) >= len(BAD),
        quiet=0.5,
    )
    assert [(r.key, r.value) for r in dead] == [(k, v) for k, v, _ in BAD]
    for record, (_, _, reason) in zip(dead, BAD, strict=True):
        headers = dict(record.headers)
        assert headers["error"].decode().startswith(reason + ": ")
        assert headers["error.reason"].decode() == reason
        assert headers["source"].decode().startswith(settings.input_topic + "/0/")
    expected = expected_windows(data, settings)
    records = await read_topic(
        settings.bootstrap_servers,
        settings.output_topic,
        until=lambda rs: len(rs) >= len(expected),
        quiet=0.5,
    )
    check_windows(records, expected, settings.maxdim, duplicates=False)


async def test_run_returns_when_idle_and_the_worker_stops_idempotently(stream_settings):
    settings = stream_settings()
    worker = KafkaWorker(settings)
    await worker.start()
    assert await worker.run(timeout=3.0) == 0
    assert worker.ready
    await worker.stop()
    await worker.stop()
    with pytest.raises(Exception, match="stopped"):
        await worker.run(count=1)


async def test_a_clean_restart_re_emits_nothing(stream_settings):
    settings = stream_settings(partitions=1)
    data, messages = synthetic_messages(streams=2, messages_per_stream=10, seed=3)
    half = len(messages) // 2
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages[:half])
    async with KafkaWorker(settings) as worker:
        await worker.run(count=half, timeout=60)
    await produce(settings.bootstrap_servers, settings.input_topic, messages[half:])
    expected = expected_windows(data, settings)
    worker = KafkaWorker(settings)
    await worker.start()
    await run_until_published(worker, expected)
    records = await read_topic(
        settings.bootstrap_servers,
        settings.output_topic,
        until=lambda rs: len(rs) >= len(expected),
        quiet=1.0,
    )
    check_windows(records, expected, settings.maxdim, duplicates=False)
    assert all(decode_diagram(r.value).stream.startswith("stream-") for r in records)
