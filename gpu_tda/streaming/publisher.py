"""Diagram -> encode -> message: publishing a job's windows and dead letters, with retries.

Nothing is committed before ``publish`` returns, and it returns only when the broker has
acknowledged every record; while the broker is unreachable it retries (the bounded job queue
then pauses consumption), so no window and no dead letter is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.errors import KafkaError

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.diagram import WindowDiagram, encode_diagram
from gpu_tda.streaming.dlq import DeadLetter

log = logging.getLogger(__name__)

RETRY_S = 0.5


class Publisher:
    """Sends diagrams to the output topic (key = stream id) and dead letters to the DLQ."""

    def __init__(
        self, producer: Any, output_topic: str, dlq_topic: str, metrics: WorkerMetrics
    ) -> None:
        self._producer = producer
        self.output_topic = output_topic
        self.dlq_topic = dlq_topic
        self._metrics = metrics

    async def publish(self, diagrams: list[WindowDiagram], dead_letters: list[DeadLetter]) -> None:
        """Send everything and wait for the acknowledgements; retry until they all came."""
        while True:
            try:
                started = time.perf_counter()
                await self._send_all(diagrams, dead_letters)
                break
            except KafkaError:
                self._metrics.processing_errors.labels(stage="publish").inc()
                log.warning("publishing failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_S)
        m = self._metrics
        if diagrams or dead_letters:
            m.send_latency.observe(time.perf_counter() - started)
        m.messages_sent.labels(topic=self.dlq_topic).inc(len(dead_letters))
        m.messages_sent.labels(topic=self.output_topic).inc(len(diagrams))
        now = time.time()
        for wd in diagrams:
            m.windows.labels(backend=wd.backend).inc()
            if wd.end_ts is not None and wd.end_ts > 0:
                m.end_to_end_latency.observe(max(0.0, now - wd.end_ts / 1000))

    async def _send_all(
        self, diagrams: list[WindowDiagram], dead_letters: list[DeadLetter]
    ) -> None:
        send = self._producer.send
        futures = [
            await send(self.dlq_topic, value=d.value, key=d.key, headers=d.headers)
            for d in dead_letters
        ]
        now_ms = int(time.time() * 1000)
        for wd in diagrams:
            wd.emitted_ts = now_ms
            futures.append(
                await send(self.output_topic, value=encode_diagram(wd), key=wd.stream.encode())
            )
        await asyncio.gather(*futures)
