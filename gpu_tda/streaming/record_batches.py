"""Records -> closed Kafka record batches, one run per partition, handed to an aiokafka producer.

Keys go to partitions as the Java client and aiokafka's default partitioner put them (murmur2
of the key), looked up once per key. A closed batch is sent at once, without the producer's
linger; records that do not fit one batch (``max_batch_size``) go as several. Building batches
here rather than calling ``producer.send`` per record saves most of the client's per-record
Python: the worker publishes its windows this way, and the stream bench's producer too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

Record = tuple[bytes, bytes | None, list[tuple[str, bytes]] | None]
"""(value, key, headers) of one outgoing message."""


class KeyPartitions:
    """Record -> partition, as ``producer.send`` would choose it (cached per topic and key)."""

    def __init__(self) -> None:
        self._partitioner = DefaultPartitioner()
        self._cache: dict[tuple[str, bytes], int] = {}

    def group(
        self, topic: str, parts: Sequence[int], records: Sequence[Record]
    ) -> dict[int, list[Record]]:
        """``records`` by partition of ``topic`` (whose partitions are ``parts``), in order within
        each partition, the partitions in ascending order. A record without a key goes to any."""
        out: dict[int, list[Record]] = {}
        cache = self._cache
        for record in records:
            key = record[1]
            if key is None:
                partition = self._partitioner(None, parts, parts)
            else:
                partition = cache.get((topic, key), -1)
                if partition < 0:
                    partition = cache[(topic, key)] = self._partitioner(key, parts, parts)
            out.setdefault(partition, []).append(record)
        return dict(sorted(out.items()))


async def send_records(
    producer: Any, topic: str, partition: int, records: Sequence[Record]
) -> asyncio.Future[Any]:
    """Hand ``records`` to ``producer`` as closed record batches for ``topic``/``partition``;
    the returned future completes when the broker has acknowledged all of them."""
    futures = []
    builder = producer.create_batch()
    for value, key, headers in records:
        if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            futures.append(await _submit(producer, builder, topic, partition))
            builder = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value, headers=headers)
    futures.append(await _submit(producer, builder, topic, partition))
    return futures[0] if len(futures) == 1 else asyncio.gather(*futures)


async def _submit(producer: Any, builder: Any, topic: str, partition: int) -> asyncio.Future[Any]:
    builder.close()  # complete: no linger, and no producer.send() record slips in
    return await producer.send_batch(builder, topic, partition=partition)
