"""Test helpers: synthetic input, producing it, reading topics back, the expected windows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming import WindowDiagram, decode_diagram, encode_points_binary
from gpu_tda.streaming import encode_points_json as encode_json
from gpu_tda.streaming.topics import ensure_topics
from gpu_tda.streaming.windows import make_specs
from tests.diagram_oracle import assert_same_diagrams, ripser_diagrams

Message = tuple[bytes | None, bytes | None]


def synthetic_messages(
    streams: int, messages_per_stream: int, seed: int = 0, max_points: int = 5
) -> tuple[dict[str, np.ndarray], list[Message]]:
    """Interleaved messages of noisy circles (2-D) and random walks (3-D), JSON and binary.

    Returns each stream's points in order and the messages to produce.
    """
    rng = np.random.default_rng(seed)
    chunks: dict[str, list[np.ndarray]] = {}
    queue: list[tuple[str, np.ndarray]] = []
    for s in range(streams):
        name = f"stream-{s}"
        for _ in range(messages_per_stream):
            n = int(rng.integers(1, max_points + 1))
            if s % 2 == 0:
                t = rng.uniform(0, 2 * np.pi, n)
                pts = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.1, size=(n, 2))
            else:
                pts = rng.normal(size=(n, 3))
            chunks.setdefault(name, []).append(pts)
            queue.append((name, pts))
    order = rng.permutation(len(queue))
    # keep each stream's messages in order while interleaving the streams
    by_stream: dict[str, list[np.ndarray]] = {k: list(v) for k, v in chunks.items()}
    picks = [queue[i][0] for i in order]
    messages: list[Message] = []
    for name in picks:
        pts = by_stream[name].pop(0)
        encode = encode_points_binary if rng.random() < 0.5 else encode_json
        messages.append((name.encode(), encode(pts)))
    data = {k: np.concatenate(v) for k, v in chunks.items()}
    return data, messages


def expected_windows(
    data: dict[str, np.ndarray], settings: WorkerSettings
) -> dict[tuple, np.ndarray]:
    """(stream, size, seq) -> the window's points, for every window the data completes."""
    out = {}
    for spec in make_specs(list(settings.windows), settings.stride):
        for stream, X in data.items():
            k = 0
            while spec.last_index(k) < len(X):
                out[(stream, spec.size, k)] = X[spec.first_index(k) : spec.last_index(k) + 1]
                k += 1
    return out


async def create_topics(settings: WorkerSettings) -> None:
    await ensure_topics(
        settings.bootstrap_servers,
        {
            settings.input_topic: settings.partitions,
            settings.output_topic: settings.partitions,
            settings.dlq_topic: settings.partitions,
        },
    )


async def produce(bootstrap: str, topic: str, messages: list[Message]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, until: Any = None, timeout: float = 60.0, quiet: float = 0.0
) -> list[Any]:
    """Records of ``topic`` from the start until ``until(records)`` is true or ``timeout``.

    With ``quiet`` > 0, keep reading until no record came for ``quiet`` seconds.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for rs in batch.values():
                records.extend(rs)
                last_new = time.monotonic()
            if until is not None and until(records) and not quiet:
                break
            if quiet and (until is None or until(records)) and time.monotonic() - last_new > quiet:
                break
    finally:
        await consumer.stop()
    return records


async def run_until_published(
    worker: Any, expected: dict[tuple, Any], timeout: float = 90.0
) -> None:
    """Run ``worker`` until every expected window is on its output topic, then stop it."""
    settings = worker.settings
    task = asyncio.create_task(worker.run(timeout=timeout))
    try:
        await read_topic(
            settings.bootstrap_servers,
            settings.output_topic,
            until=lambda rs: window_keys(rs) >= set(expected),
            timeout=timeout,
        )
    finally:
        worker.request_stop()
        await task
    await worker.stop()


def window_keys(records: list[Any]) -> set[tuple]:
    return {decode_diagram(r.value).key for r in records}


def check_windows(
    records: list[Any], expected: dict[tuple, np.ndarray], maxdim: int, *, duplicates: bool
) -> dict[tuple, WindowDiagram]:
    """Every expected window present, nothing else, bars equal ripser's on the window points;
    duplicates (allowed or not) carry identical bars."""
    seen: dict[tuple, WindowDiagram] = {}
    for r in records:
        wd = decode_diagram(r.value)
        assert r.key == wd.stream.encode()
        if wd.key in seen:
            assert duplicates, f"window {wd.key} published twice"
            assert wd.same_bars(seen[wd.key]), f"replay of {wd.key} changed its bars"
            assert (wd.first_offset, wd.last_offset) == (
                seen[wd.key].first_offset,
                seen[wd.key].last_offset,
            )
        seen[wd.key] = wd
    missing = set(expected) - set(seen)
    assert not missing, f"{len(missing)} windows missing, e.g. {sorted(missing)[:5]}"
    assert set(seen) == set(expected), sorted(set(seen) - set(expected))[:5]
    for key, wd in seen.items():
        assert_same_diagrams(wd.diagrams, ripser_diagrams(expected[key], maxdim))
    return seen


def worker_settings_for(bootstrap: str, base: str, **changes: Any) -> WorkerSettings:
    """Worker settings on topics and a group named after ``base``.

    Small windows, a short group session (a departed member holds up the next rebalance
    until its session expires) and frequent checkpoints keep the tests fast; ``changes``
    override any field.
    """
    values: dict[str, Any] = dict(
        bootstrap_servers=bootstrap,
        input_topic=f"{base}.points",
        output_topic=f"{base}.diagrams",
        dlq_topic=f"{base}.dlq",
        group_id=f"{base}.group",
        windows=("16", "24"),
        stride=4,
        maxdim=0,
        backend="cpu",
        partitions=1,
        session_timeout_ms=2000,
        commit_interval_ms=100,
        linger_ms=5,
        max_batch_records=50,
        shutdown_timeout_s=20.0,
    )
    values.update(changes)
    return WorkerSettings(**values)
