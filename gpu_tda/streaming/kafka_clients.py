"""The worker's Kafka clients, configured in one place from ``WorkerSettings``.

* The **producer** sends closed record batches that the publisher builds itself (so its
  ``linger_ms`` is 0: a batch goes out as soon as it is handed over) and the checkpoint
  records; ``acks="all"``: a message counts as published once every in-sync replica has it.
* The **consumer** joins the group without auto-commit (the worker commits after publishing)
  and fetches up to 4 MiB per partition. ``fetch_max_wait_ms`` is how long the broker may hold
  a fetch that found nothing. The broker answers as soon as data arrives, but aiokafka leaves
  a partition whose records it still buffers out of its next fetch, so records arriving there
  meanwhile wait for that fetch to end: a short wait keeps that delay small.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gpu_tda.settings import WorkerSettings

MAX_BATCH_BYTES = 1 << 20
"""Largest record batch the publisher builds (a maxdim-0 diagram of 128 points is ~3.5 KB)."""


def make_producer(settings: WorkerSettings) -> AIOKafkaProducer:
    """The producer of diagrams, dead letters and checkpoints (not started)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=settings.client_id,
        linger_ms=0,
        acks="all",
        max_batch_size=MAX_BATCH_BYTES,
    )


def make_consumer(settings: WorkerSettings) -> AIOKafkaConsumer:
    """The group consumer of the input topic (not subscribed, not started)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.group_id,
        client_id=settings.client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(100, settings.session_timeout_ms // 4),
        max_poll_interval_ms=max(300_000, settings.session_timeout_ms),
        max_partition_fetch_bytes=4 << 20,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
