"""``gpu-tda produce``: synthetic point streams into the input topic at a chosen load.

Load patterns (``rate`` is points per second over all streams; 0 = as fast as possible):

* ``constant``: ``rate`` all the time
* ``ramp``: from 10% of ``rate`` rising linearly to 100% at the end of ``duration``
* ``bursts``: 5 x ``rate`` for 1 s in every 5 s, 0 in between (same mean as ``rate``)

Messages go round-robin over the streams, ``points_per_message`` points each, JSON or binary
(see ``decode``), with a ``ts`` in milliseconds. Bounded by ``count`` messages and/or
``duration`` seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpu_tda.streaming.decode import encode_points_binary, encode_points_json
from gpu_tda.streaming.record_batches import KeyPartitions, send_records
from gpu_tda.streaming.synthetic import make_sources

PATTERNS = ("constant", "ramp", "bursts")
TICK_MESSAGES = 2000
"""Most messages one tick sends (an unthrottled producer's tick)."""
FLUSH_EVERY = 64
"""Record-batch sends in flight before the producer waits for their acknowledgements."""


@dataclass(frozen=True)
class LoadSpec:
    """What to produce and how fast."""

    streams: int = 8
    kind: str = "mixed"
    dim: int = 3
    points_per_message: int = 8
    encoding: str = "json"
    rate: float = 0.0
    pattern: str = "constant"
    count: int | None = None
    duration: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.encoding not in ("json", "binary"):
            raise ValueError(f"encoding must be json or binary, got {self.encoding!r}")
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}")
        if self.streams < 1 or self.points_per_message < 1 or self.rate < 0:
            raise ValueError("streams and points_per_message must be >= 1, rate >= 0")
        if self.pattern == "ramp" and not self.duration:
            raise ValueError("the ramp pattern needs a duration")


@dataclass(frozen=True)
class ProduceStats:
    messages: int
    points: int
    seconds: float

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def points_due(spec: LoadSpec, elapsed: float) -> float:
    """Points the pattern has asked for after ``elapsed`` seconds (inf when unthrottled)."""
    if spec.rate <= 0:
        return float("inf")
    if spec.pattern == "constant":
        return spec.rate * elapsed
    if spec.pattern == "ramp":
        assert spec.duration
        x = min(elapsed, spec.duration)
        return spec.rate * (0.1 * x + 0.9 * x * x / (2 * spec.duration))
    cycles, within = divmod(elapsed, 5.0)
    return spec.rate * (5.0 * cycles + 5.0 * min(within, 1.0))


async def produce_load(
    bootstrap_servers: str,
    topic: str,
    spec: LoadSpec,
    *,
    partitions: int = 4,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[ProduceStats], None] | None = None,
) -> ProduceStats:
    """Produce synthetic streams per ``spec``; returns what was sent (all acknowledged).

    Every tick (2 ms while the pattern holds back, at once otherwise) sends what is due, at
    most ``TICK_MESSAGES`` messages, as closed record batches per partition
    (``record_batches``): per-message ``send`` calls cost the client far more Python.
    """
    from aiokafka import AIOKafkaProducer

    from gpu_tda.streaming.topics import ensure_topics

    await ensure_topics(bootstrap_servers, {topic: partitions})
    sources = make_sources(spec.kind, spec.streams, spec.dim, seed=spec.seed)
    encode = encode_points_binary if spec.encoding == "binary" else encode_points_json
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, max_batch_size=256 * 1024, acks=1
    )
    await producer.start()
    names = itertools.cycle(sources)
    keys = KeyPartitions()
    ppm = spec.points_per_message
    messages = points = 0
    pending: list[asyncio.Future[object]] = []
    started = time.monotonic()
    last_report = started
    try:
        parts = sorted(await producer.partitions_for(topic))
        while True:
            now = time.monotonic()
            elapsed = now - started
            if spec.count is not None and messages >= spec.count:
                break
            if spec.duration is not None and elapsed >= spec.duration:
                break
            if stop is not None and stop.is_set():
                break
            due = min(TICK_MESSAGES, (points_due(spec, elapsed) - points) // ppm)
            if spec.count is not None:
                due = min(due, spec.count - messages)
            if due < 1:
                await asyncio.sleep(0.002)
                continue
            records = []
            for _ in range(int(due)):
                name = next(names)
                value = encode(sources[name].next(ppm), ts=int(time.time() * 1000))
                records.append((value, name.encode(), None))
            for partition, run in keys.group(topic, parts, records).items():
                pending.append(await send_records(producer, topic, partition, run))
            messages += len(records)
            points += len(records) * ppm
            if len(pending) >= FLUSH_EVERY:
                await asyncio.gather(*pending)
                pending.clear()
            if on_progress is not None and now - last_report >= 1.0:
                last_report = now
                on_progress(ProduceStats(messages, points, now - started))
            await asyncio.sleep(0)  # let the client send, and a stop be set
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return ProduceStats(messages, points, time.monotonic() - started)
