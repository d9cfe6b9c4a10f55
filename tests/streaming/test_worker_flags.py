"""Per-stream backend choice from feature flags (real redis-server): gpu-compute, shadow-compare.

This machine has no GPU: a stream flagged for the GPU has its batch redone on the CPU (the
fallback is counted, the windows are still right), and shadow compares count "unavailable".
"""

from __future__ import annotations

import pytest
import redis

from gpu_tda.backends import available_backends
from gpu_tda.flags import GPU_COMPUTE, SHADOW_COMPARE, FlagDefinition, FlagStore, Strategy
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
    synthetic_messages,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(120)]

DB = 14


@pytest.fixture
def flags_url(redis_url):
    url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url
    with redis.Redis.from_url(url) as client:
        client.flushdb()


@pytest.mark.skipif("gpu" in available_backends(), reason="checks the no-GPU fallback")
async def test_gpu_flag_falls_back_to_cpu_and_shadow_compare_is_counted(stream_settings, flags_url):
    with FlagStore(flags_url) as store:
        store.put(FlagDefinition(GPU_COMPUTE, Strategy.USER_LIST, users=("stream-0",)))
        store.put(FlagDefinition(SHADOW_COMPARE, Strategy.ALL_USERS))
    settings = stream_settings(redis_url=flags_url, partitions=1)
    data, messages = synthetic_messages(streams=2, messages_per_stream=10, seed=4)
    expected = expected_windows(data, settings)
    await create_topics(settings)
    await produce(settings.bootstrap_servers, settings.input_topic, messages)
    async with KafkaWorker(settings) as worker:
        await worker.run(count=len(messages), timeout=60)
        m = worker.metrics
        assert m.backend_fallbacks.labels(reason="unavailable")._value.get() >= 1
        assert m.shadow_compares.labels(result="unavailable")._value.get() == len(expected)
        assert m.windows.labels(backend="cpu")._value.get() == len(expected)
    records = await read_topic(
        settings.bootstrap_servers,
        settings.output_topic,
        until=lambda rs: len(rs) >= len(expected),
        quiet=0.5,
    )
    check_windows(records, expected, settings.maxdim, duplicates=False)
