"""Session services for the whole suite: the embedded Kafka-protocol broker and a redis-server.

Both start lazily (only when a test asks for them), on free loopback ports, and are always
stopped at the end of the session, also after failures; on Linux they also die with the pytest
process if it is killed hard. Areas add their own fixtures in ``tests/<area>/conftest.py``.

    def test_something(kafka_bootstrap, redis_url, new_topic):
        topic = new_topic(partitions=2)     # unique name, created with 2 partitions
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import gpu_tda
from gpu_tda.services import EmbeddedRedis
from gpu_tda.streaming.broker import EmbeddedBroker


@pytest.fixture(scope="session", autouse=True)
def compiled_engine() -> None:
    """Compile the CPU kernels once, up front, into numba's on-disk cache.

    Worker and CLI subprocesses then load them in about a second instead of compiling for
    tens of seconds each on a cold cache (a fresh clone, CI).
    """
    clouds = [np.random.default_rng(i).normal(size=(12, 2)) for i in range(3)]
    for maxdim in range(4):
        gpu_tda.persistence(clouds[0], maxdim=maxdim, backend="cpu")
        gpu_tda.persistence_batch(clouds, maxdim=maxdim, backend="cpu")


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """The session's embedded broker (memory-only) on a free 127.0.0.1 port."""
    broker = EmbeddedBroker(port=0, die_with_parent=True)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(embedded_broker: EmbeddedBroker) -> str:
    """``"127.0.0.1:PORT"`` of the session broker."""
    return embedded_broker.bootstrap_servers


@pytest.fixture(scope="session")
def embedded_redis() -> Iterator[EmbeddedRedis]:
    """The session's redis-server (no persistence) on a free 127.0.0.1 port."""
    server = EmbeddedRedis(port=0, die_with_parent=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(embedded_redis: EmbeddedRedis) -> str:
    """``"redis://127.0.0.1:PORT/0"`` of the session redis-server (shared: use unique keys)."""
    return embedded_redis.url


_names = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


async def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    for topic, code, *_ in response.topic_errors:
        if code != 0:
            raise RuntimeError(f"creating topic {topic!r} failed with Kafka error code {code}")


def _run_in_own_loop(coro: object) -> None:
    """Run a coroutine to completion on a fresh loop in a helper thread (works inside tests
    that already run an event loop)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """``unique_name(prefix)`` -> a name no other test in this session uses (topics, groups,
    Redis keys)."""
    return _unique


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """``new_topic(prefix="topic", partitions=1)`` -> the name of a freshly created topic.

    (The broker would auto-create a topic on first use, with 4 partitions; this creates it with
    the count asked for.)
    """

    def make(prefix: str = "topic", partitions: int = 1) -> str:
        name = _unique(prefix)
        _run_in_own_loop(_create_topic(kafka_bootstrap, name, partitions))
        return name

    return make
