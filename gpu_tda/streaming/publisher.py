"""Diagram -> encode -> message: publishing a job's windows and dead letters, behind a breaker.

Publishing is split in two so that the worker can overlap jobs:

* ``send`` groups the records by partition into Kafka record batches (one message per window
  and per dead letter, as the contract says; a batch is only how they travel) and hands them
  to the producer. It does not wait for acknowledgements and never raises for a failed send:
  what did not go out is sent again by ``confirm``.
* ``confirm`` waits until the broker has acknowledged every record. Each delivery attempt
  (re-send the batches that have no live send, then wait up to ``attempt_timeout_s`` for the
  acknowledgements) runs through the ``producer`` circuit breaker. A failed or slow attempt
  counts against it; batches already handed to the client are awaited again rather than
  re-sent (no duplicates from a slow broker). While the breaker is open no attempt is made:
  the worker pauses its input partitions (its state hook) and ``confirm`` waits for the
  half-open probe. So no window and no dead letter is dropped, and nothing past them is
  committed.

Keys go to partitions as ``producer.send`` would put them (``record_batches``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiobreaker import CircuitBreaker, CircuitBreakerError
from aiokafka.errors import KafkaError

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.breakers import BreakerConfig, StateHook, make_breaker
from gpu_tda.streaming.dlq import DeadLetter
from gpu_tda.streaming.record_batches import KeyPartitions, Record, send_records
from gpu_tda.streaming.ring_buffer import DueWindow

log = logging.getLogger(__name__)

RETRY_S = 0.25
"""Pause between attempts while the breaker is open or after a failed attempt."""

ATTEMPT_TIMEOUT_S = 5.0
"""Longest wait for the acknowledgements of one attempt before it counts as a failure."""

T = TypeVar("T")


@dataclass
class _Batch:
    """Messages for one partition, sent as one record batch, and the future of that send."""

    topic: str
    partition: int
    records: list[Record]
    future: asyncio.Future[Any] | None = None

    @property
    def live(self) -> bool:
        """Sent, and not (yet) failed."""
        f = self.future
        return f is not None and not (f.done() and (f.cancelled() or f.exception() is not None))


@dataclass
class Delivery:
    """One job's messages in flight: their batches, and what to count once acknowledged (each
    window's backend and last point's timestamp, the dead letters)."""

    batches: list[_Batch]
    backends: list[str]
    end_ts: list[int]
    dead_letters: int
    started: float = field(default_factory=time.perf_counter)


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
        self._partitions: dict[str, list[int]] = {}
        self._keys = KeyPartitions()

    async def send(
        self,
        windows: Sequence[DueWindow],
        values: list[bytes],
        backends: list[str],
        dead_letters: list[DeadLetter],
    ) -> Delivery:
        """Hand every message to the producer (``values[i]`` is the document of ``windows[i]``,
        computed on ``backends[i]``).

        Returns at once after that, with the delivery for ``confirm``; a send that fails here
        is retried there.
        """
        batches: list[_Batch] = []
        if dead_letters:
            parts = await self._topic_partitions(self.dlq_topic)
            records = [(d.value, d.key, d.headers) for d in dead_letters]
            batches += self._group(self.dlq_topic, parts, records)
        if values:
            parts = await self._topic_partitions(self.output_topic)
            keys = [w.stream.encode() for w in windows]
            records = [(v, k, None) for v, k in zip(values, keys, strict=True)]
            batches += self._group(self.output_topic, parts, records)
        end_ts = [w.end_ts for w in windows] if values else []
        delivery = Delivery(batches, backends, end_ts, len(dead_letters))
        for batch in batches:
            try:
                await asyncio.wait_for(self._send_batch(batch), self.attempt_timeout_s)
            except (KafkaError, TimeoutError) as exc:
                log.debug("sending a batch failed (%s); confirm() sends it again", exc)
        return delivery

    async def confirm(self, delivery: Delivery) -> None:
        """Wait until every message of ``delivery`` is acknowledged; retry until they all are."""
        if not delivery.batches:
            return
        await self.guarded(self._attempt, delivery, stage="publish")
        m = self._metrics
        m.send_latency.observe(time.perf_counter() - delivery.started)
        if delivery.dead_letters:
            m.messages_sent.labels(topic=self.dlq_topic).inc(delivery.dead_letters)
        if delivery.backends:
            m.messages_sent.labels(topic=self.output_topic).inc(len(delivery.backends))
        now = time.time()
        latency = m.end_to_end_latency
        for end_ts in delivery.end_ts:
            if end_ts > 0:  # a point's Kafka timestamp (NO_VALUE: none)
                latency.observe(max(0.0, now - end_ts / 1000))
        for backend, count in collections.Counter(delivery.backends).items():
            m.windows.labels(backend=backend).inc(count)

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

    async def _topic_partitions(self, topic: str) -> list[int]:
        parts = self._partitions.get(topic)
        if parts is None:
            found = await self._producer.partitions_for(topic)  # waits for metadata
            parts = self._partitions[topic] = sorted(found)
        return parts

    def _group(self, topic: str, parts: list[int], records: list[Record]) -> list[_Batch]:
        """Records -> one batch per partition (keeping their order within a partition)."""
        return [
            _Batch(topic, p, recs) for p, recs in self._keys.group(topic, parts, records).items()
        ]

    async def _send_batch(self, batch: _Batch) -> None:
        """Hand ``batch``'s records to the producer as closed record batches (sent at once)."""
        batch.future = await send_records(
            self._producer, batch.topic, batch.partition, batch.records
        )

    async def _attempt(self, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.attempt_timeout_s
        for batch in delivery.batches:
            if not batch.live:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError("sending took longer than the attempt timeout")
                await asyncio.wait_for(self._send_batch(batch), left)
        pending = [
            b.future for b in delivery.batches if b.future is not None and not b.future.done()
        ]
        if pending:  # asyncio.wait never cancels them: a later attempt awaits the same sends
            await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
        failed = None
        for batch in delivery.batches:
            future = batch.future
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
