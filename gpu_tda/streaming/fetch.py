"""Messages -> one micro-batch of input records: ``getmany``, then more until full or the linger.

Records fetched for a partition whose state a rebalance replaced meanwhile are dropped: the new
state was restored from its checkpoint and the consumer seeked to its replay offset, so those
records come again (to this worker or to the partition's new owner).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gpu_tda.streaming.checkpoint import PartitionState

Batch = dict[Any, list[Any]]
"""TopicPartition -> ConsumerRecords, in offset order."""


async def fetch_micro_batch(
    consumer: Any,
    states: Mapping[int, PartitionState],
    *,
    wait_ms: int,
    limit: int,
    linger_s: float,
) -> Batch:
    """Up to ``limit`` records: the first ``getmany`` waits up to ``wait_ms``; once some came,
    more are taken for up to ``linger_s`` seconds. ``states`` is the live partition map."""
    batch: Batch = await consumer.getmany(timeout_ms=wait_ms, max_records=limit)
    total = sum(len(records) for records in batch.values())
    if not total or total >= limit or linger_s <= 0:
        return batch
    owners = dict(states)  # the partition states these records belong to
    loop = asyncio.get_running_loop()
    end = loop.time() + linger_s
    while total < limit and (left := end - loop.time()) > 0:
        more = await consumer.getmany(
            timeout_ms=max(1, int(left * 1000)), max_records=limit - total
        )
        total -= drop_stale(batch, states, owners)
        owners = dict(states)
        for tp, records in more.items():
            batch.setdefault(tp, []).extend(records)
            total += len(records)
    return batch


def drop_stale(
    batch: Batch, states: Mapping[int, PartitionState], owners: Mapping[int, PartitionState]
) -> int:
    """Forget records of partitions whose state is no longer ``owners``'; return how many."""
    dropped = 0
    for tp in list(batch):
        if states.get(tp.partition) is not owners.get(tp.partition):
            dropped += len(batch.pop(tp))
    return dropped
