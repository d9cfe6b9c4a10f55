"""The embedded broker in this process, spoken to with aiokafka's clients and raw Kafka frames."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.protocol.admin import ApiVersionRequest_v0, CreateTopicsRequest_v2
from aiokafka.protocol.api import RequestStruct
from aiokafka.protocol.produce import ProduceRequest_v3

from gpu_tda.streaming.broker import wire
from gpu_tda.streaming.broker.server import KafkaBroker
from tests.streaming.test_broker_log import record_batch

pytestmark = pytest.mark.kafka


@pytest.fixture
async def broker() -> AsyncIterator[KafkaBroker]:
    server = KafkaBroker("127.0.0.1", 0, default_partitions=2, retention_bytes=1 << 20)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def bootstrap(server: KafkaBroker) -> str:
    return f"127.0.0.1:{server.port}"


async def exchange(server: KafkaBroker, frames: list[bytes]) -> list[bytes]:
    """Send raw request frames on one connection; the response frames (fewer if it closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for frame in frames:
            writer.write(struct.pack(">i", len(frame)) + frame)
        await writer.drain()
        out = []
        for _ in frames:
            try:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
            except asyncio.IncompleteReadError:
                break
            out.append(await reader.readexactly(size))
        return out
    finally:
        writer.close()


def frame(request: RequestStruct, correlation_id: int = 7, version: int | None = None) -> bytes:
    header = struct.pack(">hhih", request.API_KEY, request.API_VERSION if version is None
                         else version, correlation_id, 4) + b"test"  # fmt: skip
    return header + request.encode()


def response(request: RequestStruct, data: bytes) -> object:
    assert struct.unpack(">i", data[:4])[0] == 7  # the correlation id comes back
    return request.RESPONSE_TYPE.decode(data[4:])


async def test_a_held_fetch_returns_as_soon_as_a_record_is_appended(broker):
    topic = "wake"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(broker))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(broker), fetch_max_wait_ms=20_000,
                                auto_offset_reset="earliest")  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"first", partition=0)
        consumer.assign([TopicPartition(topic, 0)])
        assert [r.value for r in (await consumer.getmany(timeout_ms=5000)).popitem()[1]] == [
            b"first"
        ]
        await asyncio.sleep(0.3)  # the consumer's next fetch is now held by the broker
        started = time.monotonic()
        await producer.send_and_wait(topic, b"second", partition=0)
        batch = await consumer.getmany(timeout_ms=10_000)
        waited = time.monotonic() - started
    finally:
        await consumer.stop()
        await producer.stop()
    assert [r.value for records in batch.values() for r in records] == [b"second"]
    assert waited < 5.0  # far less than the 20 s the fetch could have been held


async def test_a_fetch_beyond_the_log_resets_to_the_earliest_offset(broker):
    topic = "reset"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(broker))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(broker), auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"m{i}".encode(), partition=1)
        tp = TopicPartition(topic, 1)
        consumer.assign([tp])
        consumer.seek(tp, 1000)  # out of range: the broker says so, the client resets
        records = []
        deadline = time.monotonic() + 10
        while len(records) < 3 and time.monotonic() < deadline:
            for got in (await consumer.getmany(timeout_ms=500)).values():
                records += got
        assert (await consumer.end_offsets([tp]))[tp] == 3
        assert (await consumer.beginning_offsets([tp]))[tp] == 0
    finally:
        await consumer.stop()
        await producer.stop()
    assert [(r.offset, r.value) for r in records] == [(0, b"m0"), (1, b"m1"), (2, b"m2")]


async def test_two_group_consumers_split_the_partitions_then_one_takes_all(broker):
    topic = "split"
    settings = dict(bootstrap_servers=bootstrap(broker), group_id="g-split",
                    session_timeout_ms=3000, heartbeat_interval_ms=200)  # fmt: skip
    first = AIOKafkaConsumer(topic, **settings)
    second = AIOKafkaConsumer(topic, **settings)
    await first.start()
    await second.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await asyncio.gather(first.getmany(timeout_ms=100), second.getmany(timeout_ms=100))
            if len(first.assignment()) == len(second.assignment()) == 1:
                break
        assert first.assignment() | second.assignment() == {
            TopicPartition(topic, 0),
            TopicPartition(topic, 1),
        }
        await second.stop()  # leaves the group: the first member gets both partitions
        deadline = time.monotonic() + 20
        while len(first.assignment()) < 2 and time.monotonic() < deadline:
            await first.getmany(timeout_ms=100)
        assert len(first.assignment()) == 2
    finally:
        await first.stop()
        await second.stop()


async def test_create_topics_reports_existing_and_illegal_names(broker):
    request = CreateTopicsRequest_v2(
        [("fresh", 3, 1, [], []), ("fresh", 1, 1, [], []), ("bad name!", 1, 1, [], []),
         ("zero", 0, 1, [], [])], 1000, False,
    )  # fmt: skip
    (data,) = await exchange(broker, [frame(request)])
    errors = [(topic, code) for topic, code, _ in response(request, data).topic_errors]
    assert errors == [("fresh", 0), ("fresh", 36), ("bad name!", 17), ("zero", 37)]
    assert len(broker.topics.get("fresh")) == 3


async def test_a_corrupt_produce_is_refused_and_a_good_one_stored(broker):
    broker.topics.create("raw", 1)
    good, bad = record_batch([b"a", b"b"]), b"\x00" * 70
    request = ProduceRequest_v3(None, 1, 1000, [("raw", [(0, bad)]), ("raw", [(0, good)]),
                                                 ("missing", [(0, good)])])  # fmt: skip
    (data,) = await exchange(broker, [frame(request)])
    answers = [(t, p, code, offset) for t, parts in response(request, data).topics
               for p, code, offset, _ in parts]  # fmt: skip
    assert answers == [("raw", 0, 2, -1), ("raw", 0, 0, 0), ("missing", 0, 3, -1)]
    assert broker.topics.partition("raw", 0).end == 2


async def test_an_unserved_version_is_answered_for_api_versions_and_closes_otherwise(broker):
    versions = ApiVersionRequest_v0()
    (data,) = await exchange(broker, [frame(versions, version=3)])
    answer = response(versions, data)
    assert answer.error_code == 35  # UNSUPPORTED_VERSION, with the versions served
    assert {key for key, *_ in answer.api_versions} == set(wire.VERSIONS)
    # Produce v8 is not served: the broker closes the connection instead of guessing
    produce = ProduceRequest_v3(None, 1, 1000, [])
    assert await exchange(broker, [frame(produce, version=8), frame(versions)]) == []


async def settled(consumers: list[AIOKafkaConsumer], partitions: set, timeout: float = 30.0):
    """Poll every consumer until their assignments split ``partitions`` exactly once, each
    consumer owning some (there are fewer consumers than partitions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.gather(*(c.getmany(timeout_ms=50) for c in consumers))
        owned = [c.assignment() for c in consumers]
        complete = set().union(*owned) == partitions
        if complete and sum(map(len, owned)) == len(partitions) and all(owned):
            return owned
    raise AssertionError(f"no stable split of {len(partitions)} partitions: {owned}")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_group_under_churn_always_settles_on_a_complete_disjoint_split(broker, seed):
    """Members join and leave in a random order; after each change the live members own every
    partition exactly once, each some (the coordinator neither loses nor doubles a partition
    and hands the new generation to every member)."""
    import random

    rng = random.Random(seed)
    topic = f"churn-{seed}"
    broker.topics.create(topic, 6)
    partitions = {TopicPartition(topic, p) for p in range(6)}
    settings = dict(bootstrap_servers=bootstrap(broker), group_id=f"g-churn-{seed}",
                    session_timeout_ms=3000, heartbeat_interval_ms=100)  # fmt: skip
    live: list[AIOKafkaConsumer] = []
    try:
        for _ in range(8):
            if len(live) < 3 and (not live or rng.random() < 0.6):
                consumer = AIOKafkaConsumer(topic, **settings)
                await consumer.start()
                live.append(consumer)
            else:
                await live.pop(rng.randrange(len(live))).stop()  # leaves the group
            if live:
                await settled(live, partitions)
    finally:
        for consumer in live:
            await consumer.stop()
