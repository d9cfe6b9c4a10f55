"""The worker's GPU circuit breaker, driven by the GPU engine's failure-injection hook.

Runs the real GPU path (CUDA kernels under numba's simulator) in the worker against the
embedded broker: injected device errors make the engine redo batches on the CPU, the breaker
counts them, opens, sends GPU batches to the CPU while open, probes after its reset time, and
closes when a probe succeeds. Every window is still emitted, with ripser's bars.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gpu_tda import gpu_engine
from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming import encode_points_json
from gpu_tda.streaming.breakers import BreakerConfig
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
)

pytestmark = [pytest.mark.gpu_sim, pytest.mark.kafka, pytest.mark.timeout(300)]

RESET_S = 1.0


@pytest.fixture
def injected_engine(monkeypatch):
    """The process's default GPU engine, rebuilt so its next 3 device batches fail."""
    monkeypatch.setenv(gpu_engine.INJECT_ENV, "3:error")
    gpu_engine.default_engine.cache_clear()
    yield gpu_engine.default_engine()
    gpu_engine.default_engine.cache_clear()


async def test_gpu_failures_open_the_breaker_cpu_serves_and_a_probe_closes_it(
    kafka_bootstrap, unique_name, injected_engine
):
    base = unique_name("gpubrk")
    settings = WorkerSettings(
        bootstrap_servers=kafka_bootstrap,
        input_topic=f"{base}.points",
        output_topic=f"{base}.diagrams",
        dlq_topic=f"{base}.dlq",
        group_id=f"{base}.group",
        windows=("8",),
        stride=8,
        maxdim=0,
        backend="gpu",
        partitions=1,
        session_timeout_ms=2000,
        commit_interval_ms=100,
        linger_ms=0,
        max_batch_records=1,  # one message = one window = one GPU batch
    )
    rng = np.random.default_rng(8)
    points = rng.normal(size=(7 * 8, 2))
    expected = expected_windows({"s": points}, settings)
    messages = [(b"s", encode_points_json(points[8 * i : 8 * i + 8])) for i in range(7)]
    await create_topics(settings)
    worker = KafkaWorker(settings, gpu_breaker=BreakerConfig(fail_max=2, reset_s=RESET_S))
    fallbacks = worker.metrics.backend_fallbacks
    gauge = worker.metrics.circuit_breaker_state.labels(name="gpu")
    async with worker:
        # two device failures in a row: the engine redid them on the CPU; the breaker opens
        await produce(kafka_bootstrap, settings.input_topic, messages[:2])
        await worker.run(count=2, timeout=120)
        assert fallbacks.labels(reason="error")._value.get() == 2
        assert worker.breaker_states()["gpu"] == "open" and gauge._value.get() == 1
        assert injected_engine.stats.cpu_fallbacks == 2
        # open: GPU batches go straight to the CPU, the device is not touched
        await produce(kafka_bootstrap, settings.input_topic, messages[2:4])
        await worker.run(count=2, timeout=120)
        assert fallbacks.labels(reason="circuit_open")._value.get() == 2
        assert injected_engine.stats.cpu_fallbacks == 2
        # after the reset time a probe runs on the GPU; the third injected failure reopens it
        await asyncio.sleep(RESET_S + 0.2)
        await produce(kafka_bootstrap, settings.input_topic, messages[4:5])
        await worker.run(count=1, timeout=120)
        assert fallbacks.labels(reason="error")._value.get() == 3
        assert worker.breaker_states()["gpu"] == "open"
        # the next probe succeeds (no failure left): closed, windows back on the GPU
        await asyncio.sleep(RESET_S + 0.2)
        await produce(kafka_bootstrap, settings.input_topic, messages[5:])
        await worker.run(count=2, timeout=120)
        assert worker.breaker_states()["gpu"] == "closed" and gauge._value.get() == 0
        assert worker.breaker_history()["gpu"] == [
            "open", "half_open", "open", "half_open", "closed"
        ]  # fmt: skip
        assert worker.metrics.windows.labels(backend="cpu")._value.get() == 5
        assert worker.metrics.windows.labels(backend="gpu")._value.get() == 2
        assert injected_engine.stats.device_batches == 2
    records = await read_topic(
        kafka_bootstrap, settings.output_topic, until=lambda rs: len(rs) >= 7, quiet=0.5
    )
    seen = check_windows(records, expected, settings.maxdim, duplicates=False)
    assert [seen[k].backend for k in sorted(seen, key=lambda k: k[2])] == ["cpu"] * 5 + ["gpu"] * 2
