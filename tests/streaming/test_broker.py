"""The embedded broker as a process: lifecycle, Kafka round trips, consumer groups, the CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gpu_tda.services import free_port, port_accepts
from gpu_tda.streaming.broker import BrokerError, EmbeddedBroker, kafka_metadata_ok

pytestmark = pytest.mark.kafka

# A departed member's session must expire before the group re-forms: short sessions keep these
# tests quick.
FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500}


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value, key=f"s-{i % 3}".encode())
    finally:
        await producer.stop()


async def _consume(consumer: AIOKafkaConsumer, count: int, timeout: float = 30.0) -> list:
    records: list = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200, max_records=count - len(records))
        for messages in batch.values():
            records.extend(messages)
    return records


def _group_consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **FAST_GROUP,
    )


async def test_round_trip_keys_values_and_order(kafka_bootstrap, new_topic):
    topic = new_topic("roundtrip")
    values = [f"v{i}".encode() for i in range(20)]
    await _produce(kafka_bootstrap, topic, values)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        records = await _consume(consumer, len(values))
    finally:
        await consumer.stop()

    assert [r.value for r in records] == values
    assert [r.offset for r in records] == list(range(len(values)))
    assert [r.key for r in records] == [f"s-{i % 3}".encode() for i in range(len(values))]


async def test_consumer_group_resumes_after_committed_offset(kafka_bootstrap, new_topic):
    topic = new_topic("group")
    group = f"group-{topic}"
    values = [f"m{i}".encode() for i in range(10)]
    await _produce(kafka_bootstrap, topic, values)
    tp = TopicPartition(topic, 0)

    first = _group_consumer(kafka_bootstrap, topic, group)
    await first.start()
    try:
        head = await _consume(first, 4)
        assert [r.value for r in head] == values[:4]
        await first.commit({tp: head[-1].offset + 1})
        assert await first.committed(tp) == 4
    finally:
        await first.stop()

    second = _group_consumer(kafka_bootstrap, topic, group)
    await second.start()
    try:
        assert await second.committed(tp) == 4
        rest = await _consume(second, 6)
        await second.commit()
        assert await second.committed(tp) == 10
    finally:
        await second.stop()

    assert [r.value for r in rest] == values[4:]
    assert rest[0].offset == 4


async def test_topics_are_created_on_first_use(kafka_bootstrap, unique_name):
    topic = unique_name("auto")
    await _produce(kafka_bootstrap, topic, [b"x"])
    client = AIOKafkaClient(bootstrap_servers=kafka_bootstrap)
    await client.bootstrap()
    try:
        await client.force_metadata_update()
        client.add_topic(topic)
        await client.force_metadata_update()
        partitions = client.cluster.partitions_for_topic(topic)
    finally:
        await client.close()
    assert partitions == {0, 1, 2, 3}  # auto-created with the default 4 partitions


def test_start_stop_is_idempotent_and_frees_the_port():
    broker = EmbeddedBroker(port=0)
    with broker:
        assert broker.running
        assert re.fullmatch(r"127\.0\.0\.1:\d+", broker.bootstrap_servers)
        assert kafka_metadata_ok(broker.bootstrap_servers)
    assert not broker.running
    broker.stop()  # second stop: no error
    assert not port_accepts("127.0.0.1", broker.port)


def test_start_on_a_taken_port_fails_clearly(embedded_broker):
    with pytest.raises(BrokerError, match="already in use"):
        EmbeddedBroker(port=embedded_broker.port).start()


def test_failed_start_reports_the_output_tail():
    broker = EmbeddedBroker(port=0, partitions=0, startup_timeout=20)
    with pytest.raises(BrokerError, match="(?s)exited with code 2.*--partitions"):
        broker.start()
    assert not broker.running


async def test_advertised_address_is_what_clients_are_told():
    proxy_port = free_port()  # pretend a TCP proxy will sit on this port
    with EmbeddedBroker(port=0, advertised_port=proxy_port) as broker:
        assert broker.advertised_address == f"127.0.0.1:{proxy_port}"
        client = AIOKafkaClient(bootstrap_servers=broker.bootstrap_servers)
        await client.bootstrap()
        try:
            brokers = client.cluster.brokers()
        finally:
            await client.close()
    assert {(b.host, b.port) for b in brokers} == {("127.0.0.1", proxy_port)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_broker_runs_until_signalled(sig):
    port = free_port()
    cli = Path(sys.executable).with_name("gpu-tda")
    proc = subprocess.Popen(
        [str(cli), "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line, line
        child_pid = int(re.search(r"pid (\d+)", line).group(1))
        assert kafka_metadata_ok(f"127.0.0.1:{port}")
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(child_pid, 0)  # the broker process is gone too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
