"""The broker unreachable for 10 s mid-stream (network cut by a proxy), then back.

The embedded broker keeps everything in memory, so the fault is a cut network, not a dead
process: the broker advertises a loopback proxy, every client (worker, producer, the reader
of the output) goes through it, and the test severs every connection and refuses new ones.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from gpu_tda.streaming.batch import persistence_batch_fn
from gpu_tda.streaming.breakers import BreakerConfig
from gpu_tda.streaming.worker import KafkaWorker
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
    synthetic_messages,
    window_keys,
    worker_settings_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

OUTAGE_S = 10.0


class GatedCompute:
    """``persistence_batch`` that takes ``delay_s`` and, once ``hold`` is set, waits in compute
    until ``release`` is: the test cuts the network while a batch is certainly in flight (its
    publishing must fail, so that the breaker has something to trip on), more queued."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, windows, *, maxdim, threshold, backend):
        time.sleep(self.delay_s)
        if self.hold.is_set():
            self.holding.set()
            self.release.wait(timeout=60)
        return persistence_batch_fn(windows, maxdim=maxdim, threshold=threshold, backend=backend)


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_broker_cut_for_10s_mid_stream_emits_every_window_unaltered(
    proxied_broker, unique_name
):
    bootstrap = proxied_broker.bootstrap_servers
    settings = worker_settings_for(bootstrap, unique_name("outage"), max_batch_records=8)
    data, messages = synthetic_messages(streams=4, messages_per_stream=60, seed=21)
    expected = expected_windows(data, settings)
    split = 2 * len(messages) // 3
    await create_topics(settings)
    await produce(bootstrap, settings.input_topic, messages[:split])

    compute = GatedCompute(0.05)
    worker = KafkaWorker(
        settings,
        compute_fn=compute,
        producer_breaker=BreakerConfig(fail_max=2, reset_s=1.0),
        publish_timeout_s=1.5,
    )
    await asyncio.to_thread(worker.computer.warm_up, 2)  # JIT now, not inside the cut
    await worker.start()
    run = asyncio.create_task(worker.run(timeout=200))
    try:
        await wait_until(lambda: worker.windows_published >= 20, 90, "the first windows")
        assert worker.windows_published < len(expected)
        compute.hold.set()  # the next batch stays in compute until the network is cut
        await wait_until(compute.holding.is_set, 30, "a batch held in compute")

        await proxied_broker.proxy.sever()
        cut = time.monotonic()
        compute.release.set()
        try:
            await wait_until(
                lambda: worker.breaker_states()["producer"] == "open",
                OUTAGE_S - 1,
                "breaker open",
            )
            assert worker.paused, "input must pause while publishing cannot work"
            published_in_outage = worker.windows_published
            committed = worker.metrics.checkpoints._value.get()
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut)))
            # nothing was acknowledged, so nothing counted as published and nothing committed
            assert worker.windows_published == published_in_outage
            assert worker.metrics.checkpoints._value.get() == committed
            breaker = worker.metrics.circuit_breaker_state.labels(name="producer")._value.get()
            assert breaker in (1, 2)
        finally:  # also after a failed check, so that the worker can drain and stop
            await proxied_broker.proxy.restore()

        await produce(bootstrap, settings.input_topic, messages[split:])
        records = await read_topic(
            bootstrap,
            settings.output_topic,
            until=lambda rs: window_keys(rs) >= set(expected),
            timeout=150,
        )
        await wait_until(
            lambda: worker.breaker_states()["producer"] == "closed" and not worker.paused,
            30,
            "breaker closed and input resumed",
        )
    finally:
        worker.request_stop()
        await run
        await worker.stop()

    # every window, each equal to ripser's on its points; replays (after the group rejoined)
    # carry identical bars and offsets
    check_windows(records, expected, settings.maxdim, duplicates=True)
    history = worker.breaker_history()["producer"]
    assert "open" in history and history[-1] == "closed", history
    assert worker.metrics.processing_errors.labels(stage="publish")._value.get() >= 2
    assert worker.metrics.circuit_breaker_state.labels(name="producer")._value.get() == 0
