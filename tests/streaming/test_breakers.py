"""The breakers module without Kafka: the GPU guard on a machine without a GPU, the publisher's
breaker, and the state gauge."""

from __future__ import annotations

import time

import numpy as np
import pytest
from aiobreaker import CircuitBreakerError
from prometheus_client import CollectorRegistry

from gpu_tda.backends import available_backends
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.batch import persistence_batch_fn
from gpu_tda.streaming.breakers import (
    BreakerConfig,
    GpuGuard,
    GpuPathError,
    breaker_state,
    breaker_transitions,
    make_breaker,
)
from tests.diagram_oracle import assert_same_diagrams, ripser_diagrams

no_gpu = pytest.mark.skipif("gpu" in available_backends(), reason="needs a machine without GPU")


def gauge(metrics: WorkerMetrics, name: str) -> float:
    return metrics.circuit_breaker_state.labels(name=name)._value.get()


@no_gpu
def test_gpu_guard_opens_on_unavailable_gpu_short_circuits_and_probes_again():
    metrics = WorkerMetrics(CollectorRegistry())
    guard = GpuGuard.create(persistence_batch_fn, BreakerConfig(fail_max=2, reset_s=0.3), metrics)
    clouds = [np.random.default_rng(i).normal(size=(10, 2)) for i in range(2)]
    kwargs = dict(maxdim=0, threshold=np.inf)
    assert gauge(metrics, "gpu") == 0
    for _ in range(2):
        with pytest.raises(GpuPathError) as info:
            guard(clouds, backend="gpu", **kwargs)
        assert info.value.reason == "unavailable"
    assert breaker_state(guard.breaker) == "open" and gauge(metrics, "gpu") == 1
    with pytest.raises(GpuPathError) as info:  # open: not even tried
        guard(clouds, backend="gpu", **kwargs)
    assert info.value.reason == "circuit_open"
    assert guard.take_fallbacks() == ["unavailable", "unavailable", "circuit_open"]
    assert guard.take_fallbacks() == []
    time.sleep(0.35)
    with pytest.raises(GpuPathError):  # the half-open probe fails again: open again
        guard(clouds, backend="gpu", **kwargs)
    assert breaker_transitions(guard.breaker) == ["open", "half_open", "open"]
    # the CPU path never goes through the breaker
    for cloud, dgms in zip(clouds, guard(clouds, backend="cpu", **kwargs), strict=True):
        assert_same_diagrams(dgms, ripser_diagrams(cloud, 0))


def test_bad_windows_do_not_count_against_the_gpu():
    guard = GpuGuard.create(persistence_batch_fn, BreakerConfig(fail_max=1, reset_s=60))
    with pytest.raises(ValueError):
        guard([np.full((4, 2), np.nan)], maxdim=0, threshold=np.inf, backend="gpu")
    assert breaker_state(guard.breaker) == "closed"
    assert guard.take_fallbacks() == []


def test_breaker_config_is_checked():
    with pytest.raises(ValueError):
        BreakerConfig(fail_max=0)
    with pytest.raises(ValueError):
        BreakerConfig(reset_s=0)


async def test_producer_breaker_hook_sees_open_and_closed():
    metrics = WorkerMetrics(CollectorRegistry())
    seen: list[tuple[str, str]] = []
    breaker = make_breaker(
        "producer", BreakerConfig(fail_max=1, reset_s=0.1), metrics,
        hook=lambda name, state: seen.append((name, state)),
    )  # fmt: skip

    async def fails() -> None:
        raise TimeoutError("no ack")

    async def works() -> str:
        return "acked"

    with pytest.raises(CircuitBreakerError):  # the first failure opens it (fail_max=1)
        await breaker.call_async(fails)
    assert gauge(metrics, "producer") == 1
    time.sleep(0.15)
    assert await breaker.call_async(works) == "acked"
    assert seen == [("producer", "open"), ("producer", "half_open"), ("producer", "closed")]
    assert gauge(metrics, "producer") == 0
