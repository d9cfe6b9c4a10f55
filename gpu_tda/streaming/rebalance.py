"""Rebalance handling: what the worker does when the group takes partitions away or hands them out.

* **Revoked**: stop applying the partition's records (its state leaves the live map at once,
  its device ring slots are freed), wait until every job in flight is done, write a final
  checkpoint, commit, and keep the state aside in case the same partition comes back unchanged.
* **Assigned**: read the partition's latest checkpoint and rebuild its state (or take back the
  state kept aside, when nobody touched the partition since), then seek to the replay offset.
  Without a checkpoint the partition is read from its beginning.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from gpu_tda.streaming.backpressure import InputPause
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.checkpoint_store import CheckpointStore
from gpu_tda.streaming.committer import Committer
from gpu_tda.streaming.windows import WindowSpec

log = logging.getLogger(__name__)


class Rebalancer(ConsumerRebalanceListener):
    """Keeps ``states`` (input partition -> its state; shared with the worker) in step with
    the consumer group's assignment."""

    def __init__(
        self,
        input_topic: str,
        specs: tuple[WindowSpec, ...],
        states: dict[int, PartitionState],
        *,
        consumer: Any,
        store: CheckpointStore,
        committer: Committer,
        drain: Callable[[], Awaitable[None]],
        pause: InputPause,
        release: Callable[[int], None] | None = None,
    ) -> None:
        """``release(partition)`` is called for each partition that leaves this worker."""
        self._topic = input_topic
        self._specs = specs
        self._states = states
        self._consumer = consumer
        self._store = store
        self._committer = committer
        self._drain = drain
        self._pause = pause
        self._release = release
        self._parked: dict[int, tuple[PartitionState, dict[str, Any]]] = {}
        self.assigned = False

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Flush and checkpoint the partitions we lose, then forget them."""
        self.assigned = False
        mine = {
            tp.partition: self._states.pop(tp.partition)
            for tp in revoked
            if tp.topic == self._topic and tp.partition in self._states
        }
        if not mine:
            return
        if self._release is not None:
            for p in mine:
                self._release(p)
        try:
            await self._drain()
            docs = {p: state.snapshot() for p, state in mine.items()}
            await self._committer.commit(list(docs.values()))
            for p, state in mine.items():
                doc = docs[p]
                if doc is not None:
                    self._parked[p] = (state, doc)
        except Exception:
            log.exception("flushing revoked partitions failed; they will be replayed")

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Rebuild each new partition's windows from its checkpoint and seek to its replay start."""
        for tp in sorted(assigned, key=lambda t: t.partition):
            if tp.topic != self._topic or tp.partition in self._states:
                continue
            self._states[tp.partition] = await self._restore(tp)
        self._parked.clear()
        self.assigned = True
        self._pause.apply()  # a new assignment starts unpaused

    async def _restore(self, tp: TopicPartition) -> PartitionState:
        consumer = self._consumer
        doc = await self._store.load(self._topic, tp.partition)
        parked = self._parked.pop(tp.partition, None)
        if doc is not None and parked is not None and parked[1] == doc:
            state = parked[0]  # nobody else touched it since we let it go
            assert state.position is not None
            consumer.seek(tp, state.position)
            return state
        if doc is not None:
            state = PartitionState.restore(self._topic, tp.partition, self._specs, doc)
            assert state.start_offset is not None
            consumer.seek(tp, state.start_offset)
            log.info("partition %d: replaying from offset %d", tp.partition, state.start_offset)
            return state
        if await consumer.committed(tp) is not None:
            log.warning(
                "partition %d has a committed offset but no checkpoint; "
                "replaying it from the beginning",
                tp.partition,
            )
        begin = (await consumer.beginning_offsets([tp]))[tp]
        consumer.seek(tp, begin)
        return PartitionState(self._topic, tp.partition, self._specs, start_offset=begin)
