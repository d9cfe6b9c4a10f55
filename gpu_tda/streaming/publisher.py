"""Diagram -> encode -> message: publishing a job's windows and dead letters, behind a breaker.

Nothing is committed before ``publish`` returns, and it returns only when the broker has
acknowledged every record. Each delivery attempt (send what has no live send yet, then wait up
to ``attempt_timeout_s`` for the acknowledgements) runs through the ``producer`` circuit
breaker. A failed or slow attempt counts against it; records already handed to the client are
awaited again rather than re-sent (no duplicates from a slow broker), and only those whose send
failed are sent again. While the breaker is open no attempt is made: the worker pauses its input
partitions (its state hook) and ``publish`` waits for the half-open probe. So no window and no
dead letter is dropped, and nothing past them is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiobreaker import CircuitBreaker, CircuitBreakerError
from aiokafka.errors import KafkaError

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.breakers import BreakerConfig, StateHook, make_breaker
from gpu_tda.streaming.diagram import WindowDiagram, encode_diagram
from gpu_tda.streaming.dlq import DeadLetter

log = logging.getLogger(__name__)

RETRY_S = 0.25
"""Pause between attempts while the breaker is open or after a failed attempt."""

ATTEMPT_TIMEOUT_S = 5.0
"""Longest wait for the acknowledgements of one attempt before it counts as a failure."""

T = TypeVar("T")


class _Delivery:
    """Records of one ``publish`` and the send futures of the ones handed to the client."""

    def __init__(self, records: list[tuple[str, bytes, bytes | None, Any]]) -> None:
        self.records = records
        self.futures: list[asyncio.Future[Any] | None] = [None] * len(records)


class Publisher:
    """Sends diagrams to the output topic (key = stream id) and dead letters to the DLQ."""

    def __init__(
        self,
        producer: Any,
        output_topic: str,
        dlq_topic: str,
        metrics: WorkerMetrics,
        *,
        breaker: CircuitBreaker | None = None,
        breaker_config: BreakerConfig | None = None,
        on_breaker_change: StateHook | None = None,
        attempt_timeout_s: float = ATTEMPT_TIMEOUT_S,
    ) -> None:
        self._producer = producer
        self.output_topic = output_topic
        self.dlq_topic = dlq_topic
        self._metrics = metrics
        self.breaker = breaker or make_breaker(
            "producer", breaker_config or BreakerConfig(), metrics, hook=on_breaker_change
        )
        self.attempt_timeout_s = attempt_timeout_s

    async def publish(self, diagrams: list[WindowDiagram], dead_letters: list[DeadLetter]) -> None:
        """Send everything and wait for the acknowledgements; retry until they all came."""
        if not diagrams and not dead_letters:
            return
        now_ms = int(time.time() * 1000)
        records: list[tuple[str, bytes, bytes | None, Any]] = [
            (self.dlq_topic, d.value, d.key, d.headers) for d in dead_letters
        ]
        for wd in diagrams:
            wd.emitted_ts = now_ms
            records.append((self.output_topic, encode_diagram(wd), wd.stream.encode(), None))
        delivery = _Delivery(records)
        started = time.perf_counter()
        await self.guarded(self._attempt, delivery, stage="publish")
        m = self._metrics
        m.send_latency.observe(time.perf_counter() - started)
        m.messages_sent.labels(topic=self.dlq_topic).inc(len(dead_letters))
        m.messages_sent.labels(topic=self.output_topic).inc(len(diagrams))
        now = time.time()
        for wd in diagrams:
            m.windows.labels(backend=wd.backend).inc()
            if wd.end_ts is not None and wd.end_ts > 0:
                m.end_to_end_latency.observe(max(0.0, now - wd.end_ts / 1000))

    async def guarded(
        self, attempt: Callable[..., Awaitable[T]], *args: Any, stage: str = "publish"
    ) -> T:
        """Run ``attempt(*args)`` through the producer breaker until it succeeds.

        Kafka errors and timeouts count as failures and are retried; while the breaker is open
        this waits for its half-open probe. Other exceptions propagate.
        """
        while True:
            try:
                return await self.breaker.call_async(attempt, *args)
            except CircuitBreakerError as exc:
                if exc.__cause__ is not None:  # this attempt failed and opened the breaker
                    self._metrics.processing_errors.labels(stage=stage).inc()
            except (KafkaError, TimeoutError) as exc:
                self._metrics.processing_errors.labels(stage=stage).inc()
                log.warning("%s failed (%s: %s); retrying", stage, type(exc).__name__, exc)
            await asyncio.sleep(RETRY_S)

    async def _attempt(self, delivery: _Delivery) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.attempt_timeout_s
        send = self._producer.send
        for i, (topic, value, key, headers) in enumerate(delivery.records):
            future = delivery.futures[i]
            if future is None or (future.done() and (future.cancelled() or future.exception())):
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError("sending took longer than the attempt timeout")
                delivery.futures[i] = await asyncio.wait_for(
                    send(topic, value=value, key=key, headers=headers), left
                )
        pending = [f for f in delivery.futures if f is not None and not f.done()]
        if pending:  # asyncio.wait never cancels them: a later attempt awaits the same sends
            await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
        failed = None
        for future in delivery.futures:
            assert future is not None
            if not future.done():
                raise TimeoutError(
                    f"no acknowledgement within {self.attempt_timeout_s:g} s (broker unreachable?)"
                )
            if future.cancelled():
                failed = failed or KafkaError("send cancelled")
            elif future.exception() is not None:
                failed = failed or future.exception()
        if failed is not None:
            raise failed
