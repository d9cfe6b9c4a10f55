"""Redis stopped under a running worker: flags keep serving from the cache, the worker goes on;
Redis back: flag updates reach the worker again.

The worker's own redis-server (not the session's), so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable

import numpy as np
import pytest

from gpu_tda.flags import SHADOW_COMPARE, FlagDefinition, FlagStore, Strategy
from gpu_tda.services import EmbeddedRedis
from gpu_tda.streaming import encode_points_json
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import create_topics, produce

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(180)]


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


async def test_redis_outage_serves_cached_flags_then_updates_resume(fault_settings):
    server = EmbeddedRedis(port=0, die_with_parent=True).start()
    port = server.port
    settings = fault_settings(redis_url=server.url, windows=("8",), stride=8, metrics_port=0)
    rng = np.random.default_rng(3)

    async def send_windows(n: int) -> None:
        """n more windows of stream s-0 (8 points each, one message each)."""
        messages = [(b"s-0", encode_points_json(rng.normal(size=(8, 2)))) for _ in range(n)]
        await produce(settings.bootstrap_servers, settings.input_topic, messages)

    with FlagStore(server.url) as admin:
        admin.put(FlagDefinition(SHADOW_COMPARE, Strategy.ALL_USERS))
    await create_topics(settings)
    worker = KafkaWorker(settings)
    await worker.start()
    run = asyncio.create_task(worker.run(timeout=150))
    shadowed = worker.metrics.shadow_compares.labels(result="unavailable")  # no GPU here
    base = f"http://127.0.0.1:{worker.metrics_port}"
    try:
        await send_windows(3)
        await wait_until(lambda: worker.windows_published >= 3, 60, "first windows")
        assert shadowed._value.get() == 3  # the flag is on: every window shadow-compared

        server.stop()
        await wait_until(lambda: worker.breaker_states().get("redis") == "open", 10, "outage")
        await send_windows(3)
        await wait_until(lambda: worker.windows_published >= 6, 60, "windows in the outage")
        assert shadowed._value.get() == 6  # the cached definition still serves
        assert not run.done()
        status, body = await asyncio.to_thread(_get, base + "/healthz")
        assert status == 200 and "breaker redis open" in body
        await wait_until(
            lambda: worker.metrics.circuit_breaker_state.labels(name="redis")._value.get() == 1,
            5,
            "redis breaker gauge open",
        )
        errors = worker.metrics.registry.get_sample_value("feature_flag_refresh_errors_total")
        assert errors is not None and errors >= 1

        server = EmbeddedRedis(port=port, die_with_parent=True).start()  # empty: memory-only
        with FlagStore(server.url) as admin:
            admin.put(FlagDefinition(SHADOW_COMPARE, Strategy.ALL_USERS, enabled=False))
        await wait_until(lambda: worker.breaker_states().get("redis") == "closed", 10, "back")
        await wait_until(
            lambda: (
                worker._flags.store.get(SHADOW_COMPARE) is not None
                and not worker._flags.store.get(SHADOW_COMPARE).enabled
            ),
            10,
            "the update",
        )
        await send_windows(3)
        await wait_until(lambda: worker.windows_published >= 9, 60, "windows after the outage")
        assert shadowed._value.get() == 6  # the update (flag off) reached the running worker
        await wait_until(
            lambda: worker.metrics.circuit_breaker_state.labels(name="redis")._value.get() == 0,
            5,
            "redis breaker gauge closed",
        )
    finally:
        worker.request_stop()
        await run
        await worker.stop()
        server.stop()
