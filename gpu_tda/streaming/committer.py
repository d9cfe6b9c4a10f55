"""Checkpoint, then offset commit: what the worker writes once a job's windows are published.

The checkpoint record (``checkpoint_store``) is what a restarted worker reads; the Kafka offset
commit is informational (lag tools). Both are written only after every window before them was
acknowledged (the pipeline confirms jobs in order), so a checkpoint is never ahead of what was
published.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.checkpoint_store import CheckpointStore

log = logging.getLogger(__name__)


class Committer:
    """Saves partition checkpoints and commits their replay offsets to the consumer group."""

    def __init__(
        self, store: CheckpointStore, consumer: Any, input_topic: str, metrics: WorkerMetrics
    ) -> None:
        self._store = store
        self._consumer = consumer
        self._input_topic = input_topic
        self._metrics = metrics

    async def commit(self, docs: list[dict[str, Any] | None]) -> None:
        """Save the checkpoints in ``docs`` (None entries skipped), then commit their offsets."""
        saved = [doc for doc in docs if doc is not None]
        if not saved:
            return
        await self._store.save(saved)
        self._metrics.checkpoints.inc(len(saved))
        offsets = {
            TopicPartition(self._input_topic, int(doc["partition"])): OffsetAndMetadata(
                int(doc["offset"]), ""
            )
            for doc in saved
        }
        try:  # informational (lag tools): the checkpoint is what a restart reads
            await self._consumer.commit(offsets)
        except Exception as exc:
            self._metrics.processing_errors.labels(stage="commit").inc()
            log.info("offset commit skipped (%s); the checkpoint is saved", exc)
