"""One micro-batch of input records -> a ``Job``: decode, dead letters, ring buffers, due windows.

Runs on the event loop without awaiting, so a rebalance can never interleave with it: the records
of a batch are applied to partition states that cannot change underneath. The job carries
everything the publish stage needs (due windows with their backends, dead letters, checkpoint
snapshots) and nothing that refers back to mutable state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.decode import check_dimension, decode_key, decode_value
from gpu_tda.streaming.dlq import DeadLetter, dead_letter
from gpu_tda.streaming.exceptions import InvalidMessage
from gpu_tda.streaming.ring_buffer import DueWindow

if TYPE_CHECKING:  # the mirror imports the CUDA kernels: only workers that use it load it
    from gpu_tda.streaming.device_mirror import DeviceBatch, DeviceMirror

BackendChooser = Callable[[str], tuple[str, bool]]
"""stream id -> (backend name, shadow-compare on?)."""


@dataclass
class Job:
    """What one micro-batch produced, handed from intake to compute and publish.

    ``device_batches``: the GPU windows gathered from the device rings, per (size, dim).
    ``spans`` are the tracing root spans of the fetches merged into it (empty when off).
    """

    records: int = 0
    points: int = 0
    due: list[DueWindow] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    shadow: list[int] = field(default_factory=list)
    device_batches: dict[tuple[int, int], DeviceBatch] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    spans: list[Any] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)

    def merge(self, later: Job) -> None:
        """Append ``later`` (built after this job) to this job, which has not started yet.

        A partition's later checkpoint replaces its earlier one: it covers more.
        """
        base = len(self.due)
        self.records += later.records
        self.points += later.points
        self.due += later.due
        self.backends += later.backends
        self.shadow += [base + i for i in later.shadow]
        for key, batch in later.device_batches.items():
            mine, batch = self.device_batches.get(key), batch.shifted(base)
            self.device_batches[key] = batch if mine is None else mine.joined(batch)
        self.dead_letters += later.dead_letters
        if later.checkpoints:
            newer = {doc["partition"] for doc in later.checkpoints}
            self.checkpoints = [d for d in self.checkpoints if d["partition"] not in newer]
            self.checkpoints += later.checkpoints
        self.spans += later.spans


def build_job(
    batch: Mapping[Any, Iterable[Any]],
    states: Mapping[int, PartitionState],
    metrics: WorkerMetrics,
    choose: BackendChooser,
    mirror: DeviceMirror | None = None,
) -> Job:
    """Apply ``batch`` (TopicPartition -> records) to ``states``; return the resulting job.

    Records of partitions missing from ``states`` are not applied (not owned any more). With a
    ``mirror``, the points go to its device rings too and the GPU windows are gathered there.
    """
    job = Job()
    started = time.perf_counter()
    for tp, records in batch.items():
        state = states.get(tp.partition)
        if state is None:
            continue
        for record in records:
            job.records += 1
            apply_record(state, record, job, mirror)
            state.advance(record.offset)
    if mirror is not None:
        mirror.flush()
    metrics.window_slide_latency.observe(time.perf_counter() - started)
    metrics.points.inc(job.points)
    choices: dict[str, tuple[str, bool]] = {}
    for i, window in enumerate(job.due):
        choice = choices.get(window.stream)
        if choice is None:
            choice = choices[window.stream] = choose(window.stream)
        job.backends.append(choice[0])
        if choice[1]:
            job.shadow.append(i)
    if mirror is not None:
        job.device_batches = mirror.gather(job.due, job.backends)
    for letter in job.dead_letters:
        metrics.dlq_messages.labels(reason=letter.reason).inc()
    return job


def apply_record(
    state: PartitionState, record: Any, job: Job, mirror: DeviceMirror | None = None
) -> None:
    """Decode one record and append its points (staged in ``mirror`` too), or turn it into a
    dead letter."""
    try:
        stream = decode_key(record.key)
        if state.skips(stream, record.offset):
            return
        points, ts = decode_value(record.value)
        check_dimension(points, state.dimension(stream))
    except InvalidMessage as error:
        job.dead_letters.append(dead_letter(record, error))
        return
    if ts is None:
        ts = int(record.timestamp)
    buf = state.buffer(stream, points.shape[1])
    job.due.extend(buf.append(points, offset=record.offset, ts=ts))
    if mirror is not None:
        mirror.stage(state.partition, buf, points)
    job.points += points.shape[0]
