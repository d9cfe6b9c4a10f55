"""The worker on backend gpu keeps its streams' points in device rings, against the real broker.

Under numba's CUDA simulator: the GPU windows are gathered from the device rings and computed by
``GpuEngine.persistence_of_batch``; their diagrams are the CPU worker's, bit for bit. Device
failures send those windows to the CPU (from their host points) and every window is still
published.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gpu_tda import gpu_engine
from gpu_tda.streaming.batch import WindowComputer
from gpu_tda.streaming.worker import KafkaWorker
from tests.diagram_oracle import assert_identical_results
from tests.streaming.kafka_io import (
    check_windows,
    create_topics,
    expected_windows,
    produce,
    read_topic,
    synthetic_messages,
    worker_settings_for,
)

pytestmark = [pytest.mark.gpu_sim, pytest.mark.kafka, pytest.mark.timeout(300)]


@pytest.fixture
def device_calls(monkeypatch):
    """Windows per ``GpuEngine.persistence_of_batch`` call, recorded."""
    calls: list[int] = []
    original = gpu_engine.GpuEngine.persistence_of_batch

    def recording(self, points, *args, **kwargs):
        calls.append(int(points.shape[0]))
        return original(self, points, *args, **kwargs)

    monkeypatch.setattr(gpu_engine.GpuEngine, "persistence_of_batch", recording)
    return calls


@pytest.fixture
def engine(monkeypatch, request):
    """The process's default GPU engine, rebuilt with ``request.param`` injected failures."""
    monkeypatch.setenv(gpu_engine.INJECT_ENV, f"{getattr(request, 'param', 0)}:error")
    gpu_engine.default_engine.cache_clear()
    yield gpu_engine.default_engine()
    gpu_engine.default_engine.cache_clear()


async def _run_worker(kafka_bootstrap, base, maxdim, seed, warm=True):
    settings = worker_settings_for(
        kafka_bootstrap,
        base,
        windows=("8", "12"),
        stride=4,
        maxdim=maxdim,
        backend="gpu",
        max_batch_records=2,  # <= 10 points of a stream per micro-batch: every window gathered
        linger_ms=0,
    )
    data, messages = synthetic_messages(streams=3, messages_per_stream=6, seed=seed)
    expected = expected_windows(data, settings)
    await create_topics(settings)
    await produce(kafka_bootstrap, settings.input_topic, messages)
    worker = KafkaWorker(settings)
    if warm:  # as the runner does: compile before joining the group, so that no first
        # micro-batch stalls long enough to expire this short session (replayed streams would
        # restart their device slots and take the host path)
        await asyncio.to_thread(worker.warm_up)
    async with worker:
        assert worker.device_mirror is not None
        await worker.run(count=len(messages), timeout=120)
        ring_bytes = worker.device_mirror.memory_bytes()
    records = await read_topic(
        kafka_bootstrap, settings.output_topic, until=lambda rs: len(rs) >= len(expected)
    )
    seen = check_windows(records, expected, maxdim, duplicates=False)
    assert ring_bytes == 64 * 24 * (2 + 3) * 8  # a ring per dimension: 64 slots of 2 x 12 points
    return worker, seen, expected


async def test_gpu_windows_come_from_the_device_rings_with_the_cpu_workers_diagrams(
    kafka_bootstrap, unique_name, engine, device_calls
):
    worker, seen, expected = await _run_worker(kafka_bootstrap, unique_name("devring"), 1, 3)
    assert sum(device_calls) == len(expected)  # every window gathered on the device
    assert {wd.backend for wd in seen.values()} == {"gpu"}
    keys = sorted(expected)
    cpu = WindowComputer(maxdim=1, backend="cpu")._compute_fn(
        [expected[k] for k in keys], maxdim=1, threshold=np.inf, backend="cpu"
    )
    assert_identical_results([seen[k].diagrams for k in keys], cpu)


@pytest.mark.parametrize("engine", [2], indirect=True)
async def test_device_failures_still_publish_every_window(
    kafka_bootstrap, unique_name, engine, device_calls
):
    # no warm-up: it would take the first injected failure
    worker, seen, expected = await _run_worker(
        kafka_bootstrap, unique_name("devfail"), 0, 4, warm=False
    )
    assert engine.stats.cpu_fallbacks == 2 and len(device_calls) > 2
    assert worker.metrics.backend_fallbacks.labels(reason="error")._value.get() == 2
    backends = [wd.backend for wd in seen.values()]
    assert backends.count("cpu") == engine.stats.fallback_windows and "gpu" in backends


def test_a_gpu_workers_warm_up_includes_its_device_rings(monkeypatch):
    from gpu_tda.settings import WorkerSettings
    from gpu_tda.streaming import device_ring

    calls: list[float] = []
    original = device_ring.warm_up
    monkeypatch.setattr(device_ring, "warm_up", lambda: calls.append(original()) or calls[-1])
    settings = WorkerSettings(backend="gpu", maxdim=0, windows=("8",), stride=4)
    worker = KafkaWorker(settings)
    assert worker.device_mirror is not None
    assert worker.warm_up() >= sum(calls) > 0 and len(calls) == 1
    assert worker.device_mirror.memory_bytes() == 0  # a throwaway ring, not the mirror's


@pytest.mark.parametrize("engine", [1], indirect=True)
def test_a_gpu_failing_its_warm_up_leaves_the_worker_on_the_cpu_not_down(engine, caplog):
    from gpu_tda.settings import WorkerSettings

    worker = KafkaWorker(WorkerSettings(backend="gpu", maxdim=1, windows=("8",), stride=4))
    assert worker.warm_up() > 0
    assert engine.stats.cpu_fallbacks == 1
    assert "the GPU failed its warm-up window (error): the CPU took it" in caplog.text
