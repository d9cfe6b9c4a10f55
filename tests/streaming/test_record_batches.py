"""Closed record batches per partition (the worker's publisher, the stream bench's producer)
through the embedded broker: where records land, their order, and batches that overflow."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gpu_tda.streaming.record_batches import KeyPartitions, send_records

pytestmark = pytest.mark.kafka


async def test_records_land_where_send_puts_them_in_order_across_several_batches(
    kafka_bootstrap, new_topic
):
    topic = new_topic("batches", partitions=4)
    records = [(f"{i:04d}".encode() * 200, f"s-{i % 7}".encode(), None) for i in range(300)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_batch_size=16 * 1024)
    await producer.start()
    try:
        parts = sorted(await producer.partitions_for(topic))
        batches = []
        send_batch = producer.send_batch

        async def counted(batch, *args, **kwargs):
            batches.append(batch)
            return await send_batch(batch, *args, **kwargs)

        producer.send_batch = counted
        groups = KeyPartitions().group(topic, parts, records)
        assert list(groups) == sorted(groups) and sum(map(len, groups.values())) == 300
        sends = [await send_records(producer, topic, p, run) for p, run in groups.items()]
        await asyncio.wait_for(asyncio.gather(*sends), 30)
        assert len(batches) > 2 * len(groups)  # 240 KB in 16 KB batches: each run overflowed
        chosen = {}
        for key in {k for _, k, _ in records}:  # where producer.send puts each key
            chosen[key] = (await producer.send_and_wait(topic, b"probe", key=key)).partition
    finally:
        await producer.stop()
    assert all(chosen[key] == p for p, run in groups.items() for _, key, _ in run)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got: dict[int, list[bytes]] = {p: [] for p in parts}
        deadline = asyncio.get_running_loop().time() + 30
        while sum(map(len, got.values())) < 300 and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, found in batch.items():
                got[tp.partition] += [r.value for r in found if r.value != b"probe"]
    finally:
        await consumer.stop()
    assert got == {p: [v for v, _, _ in groups.get(p, [])] for p in parts}
