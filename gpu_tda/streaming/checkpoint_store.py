"""Checkpoint records on a Kafka topic: written before each offset commit, read on assignment.

Input partition p's checkpoints go to partition ``p % n`` of the checkpoint topic (``n`` = its
partition count; the worker creates it with as many partitions as the input topic), keyed
``<input-topic>/<p>``. The latest record of that key is the partition's state; loading reads
backwards from the end, so it costs a few records, not the history. On a real cluster, give
the topic ``cleanup.policy=compact`` (the worker asks for it when it creates the topic).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gpu_tda.streaming.checkpoint import checkpoint_key, decode_checkpoint, encode_checkpoint

log = logging.getLogger(__name__)

SCAN_STEP = 32


class CheckpointStore:
    """Saves and loads partition checkpoints through a producer and a group-less consumer."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        producer: Any,
        *,
        partitions: int = 1,
        client_id: str = "gpu-tda-checkpoints",
        load_timeout_s: float = 10.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.partitions = max(1, partitions)
        self._producer = producer
        self._client_id = client_id
        self._load_timeout_s = load_timeout_s
        self._reader: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer

        self._reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._reader.start()

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()

    def _partition_of(self, partition: int) -> int:
        return partition % self.partitions

    async def save(self, docs: list[dict[str, Any]]) -> None:
        """Write ``docs`` (``PartitionState.snapshot()``s) and wait for the broker's acks.

        All are sent before any is awaited: one round trip, not one per partition.
        """
        futures = [
            await self._producer.send(
                self.topic,
                key=checkpoint_key(doc["topic"], doc["partition"]),
                value=encode_checkpoint(doc),
                partition=self._partition_of(int(doc["partition"])),
            )
            for doc in docs
        ]
        await asyncio.gather(*futures)

    async def load(self, topic: str, partition: int) -> dict[str, Any] | None:
        """The latest checkpoint of input ``topic``/``partition``, or None when there is none."""
        from aiokafka import TopicPartition

        if self._reader is None:
            raise RuntimeError("CheckpointStore.load() before start()")
        tp = TopicPartition(self.topic, self._partition_of(partition))
        key = checkpoint_key(topic, partition)
        self._reader.assign([tp])
        end = (await self._reader.end_offsets([tp]))[tp]
        begin = (await self._reader.beginning_offsets([tp]))[tp]
        hi = end
        while hi > begin:
            lo = max(begin, hi - SCAN_STEP)
            found = await self._read_range(tp, lo, hi)
            for record in reversed(found):
                if record.key == key:
                    return decode_checkpoint(record.value)
            hi = lo
        return None

    async def _read_range(self, tp: Any, lo: int, hi: int) -> list[Any]:
        self._reader.seek(tp, lo)
        records: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._load_timeout_s
        while await self._reader.position(tp) < hi:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"reading checkpoints {tp.topic}/{tp.partition} [{lo}, {hi}) timed out"
                )
            batch = await self._reader.getmany(tp, timeout_ms=int(min(remaining, 1.0) * 1000))
            records.extend(r for r in batch.get(tp, []) if r.offset < hi)
        return records
