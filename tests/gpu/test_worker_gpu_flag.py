"""The gpu-compute flag, flipped in Redis, moves a running worker's stream between backends.

Under numba's CUDA simulator the GPU backend is usable, so a stream's windows really switch:
computed on the CPU, then (within a second of the flip) on the GPU path, then back.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis

from gpu_tda.flags import GPU_COMPUTE, FlagDefinition, FlagStore, Strategy
from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming import encode_points_json
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
)

pytestmark = [pytest.mark.gpu_sim, pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(300)]

DB = 13
WINDOW = 8


async def _wait_for(predicate, limit_s: float) -> float:
    """Seconds until predicate() holds (polling every 10 ms); fails after limit_s."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < limit_s, f"not seen within {limit_s} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_flipping_gpu_compute_switches_a_running_workers_backend_within_a_second(
    kafka_bootstrap, redis_url, unique_name
):
    flags_url = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    with redis.Redis.from_url(flags_url) as client:
        client.flushdb()
    base = unique_name("gpuflag")
    settings = WorkerSettings(
        bootstrap_servers=kafka_bootstrap,
        input_topic=f"{base}.points",
        output_topic=f"{base}.diagrams",
        dlq_topic=f"{base}.dlq",
        group_id=f"{base}.group",
        windows=(str(WINDOW),),
        stride=WINDOW,
        maxdim=1,
        backend="cpu",
        redis_url=flags_url,
        partitions=1,
        session_timeout_ms=2000,
        commit_interval_ms=100,
        linger_ms=0,
        max_batch_records=1,
    )
    points = np.random.default_rng(6).normal(size=(3 * WINDOW, 2))
    expected = expected_windows({"s": points}, settings)
    messages = [(b"s", encode_points_json(points[WINDOW * i : WINDOW * (i + 1)])) for i in range(3)]
    await create_topics(settings)
    with FlagStore(flags_url) as store:
        async with KafkaWorker(settings) as worker:
            flags = worker._flags
            # flag absent: the stream stays on the configured CPU backend
            await produce(kafka_bootstrap, settings.input_topic, messages[:1])
            await worker.run(count=1, timeout=120)
            # on for this stream: the running worker sees it within a second, no restart
            store.put(FlagDefinition(GPU_COMPUTE, Strategy.USER_LIST, users=("s",)))
            assert await _wait_for(lambda: flags.is_enabled(GPU_COMPUTE, "s"), 1.0) < 1.0
            await produce(kafka_bootstrap, settings.input_topic, messages[1:2])
            await worker.run(count=1, timeout=120)
            # disabled again: back to the CPU
            store.put(FlagDefinition(GPU_COMPUTE, Strategy.USER_LIST, users=("s",), enabled=False))
            assert await _wait_for(lambda: not flags.is_enabled(GPU_COMPUTE, "s"), 1.0) < 1.0
            await produce(kafka_bootstrap, settings.input_topic, messages[2:])
            await worker.run(count=1, timeout=120)
            assert worker.metrics.windows.labels(backend="gpu")._value.get() == 1
            assert worker.metrics.windows.labels(backend="cpu")._value.get() == 2
    records = await read_topic(
        kafka_bootstrap, settings.output_topic, until=lambda rs: len(rs) >= 3, quiet=0.5
    )
    seen = check_windows(records, expected, settings.maxdim, duplicates=False)
    assert [seen[k].backend for k in sorted(seen, key=lambda k: k[2])] == ["cpu", "gpu", "cpu"]
