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
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.decode import (
    MAGIC,
    check_dimension,
    decode_json,
    decode_key,
    decode_value,
    encode_points_binary,
    encode_points_json,
)
from gpu_tda.streaming.dlq import DeadLetter, dead_letter
from gpu_tda.streaming.exceptions import InvalidMessage
from gpu_tda.streaming.json_kernels import as_binary
from gpu_tda.streaming.ring_buffer import DueWindow, RingBuffer, RingStore
from gpu_tda.streaming.ring_kernels import OK, append_binary
from gpu_tda.streaming.windows import WindowSpec

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
        if state is not None:
            apply_records(state, records, job, mirror)
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


def apply_records(
    state: PartitionState, records: Iterable[Any], job: Job, mirror: DeviceMirror | None = None
) -> None:
    """Apply one partition's records in order.

    The messages of streams already running are queued in a ``BinaryRun`` and applied by one
    numba call per store (``ring_kernels.append_binary``): binary ones as they are, JSON ones
    as binary too. The JSON ones from the first on are converted by one numba call
    (``json_kernels.as_binary``); one it refuses is decoded here and re-encoded, or becomes a
    dead letter. Any other record (a new stream, a replay, an empty or odd value) takes
    ``apply_record``, after the queued ones are applied.
    """
    records = records if isinstance(records, list) else list(records)
    run = BinaryRun(state, job, mirror)
    converted: dict[int, memoryview | None] | None = None
    last = None
    for i, record in enumerate(records):
        job.records += 1
        last = record.offset
        value = record.value
        buf = state.running_buffer(record.key)
        if buf is not None and value and value[:4] != MAGIC:  # JSON: queued as binary
            if converted is None:
                converted = _json_from(records, i)
            binary = converted[i]
            if binary is None:
                try:
                    points, ts = decode_json(value)
                except InvalidMessage as error:
                    run.flush()  # keeps the dead letters in arrival order
                    job.dead_letters.append(dead_letter(record, error))
                    continue
                binary = encode_points_binary(points, ts)
            value = binary
        if buf is not None and value and not len(value) & 7:
            run.add(buf, record, value)
        else:
            run.flush()
            apply_record(state, record, job, mirror)
    run.flush()
    if last is not None:
        state.advance(last)


def _json_from(records: list[Any], first: int) -> dict[int, memoryview | None]:
    """Record index -> its value as a binary message, or None where ``json_kernels`` refused
    it, for the JSON values of ``records[first:]``."""
    picked = [
        i for i in range(first, len(records)) if (value := records[i].value) and value[:4] != MAGIC
    ]
    return dict(zip(picked, as_binary([records[i].value for i in picked]), strict=True))


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
    start = buf.count
    job.due.extend(buf.append(points, offset=record.offset, ts=ts))
    if mirror is not None:
        mirror.stage(state.partition, buf, points, start)
    job.points += points.shape[0]


class BinaryRun:
    """Records of running streams, queued per ``RingStore`` with their points as binary
    messages, until ``flush`` applies them in one kernel call per store (the caller flushes
    before any other record, so records are applied in order). A record the kernel refuses
    becomes a dead letter with ``decode``'s reason for its original value."""

    def __init__(self, state: PartitionState, job: Job, mirror: DeviceMirror | None) -> None:
        self.state = state
        self.job = job
        self.mirror = mirror
        self._queued: dict[int, _Queue] = {}
        self._size = 0

    def add(self, buf: RingBuffer, record: Any, value: bytes) -> None:
        """Queue ``record`` for ``buf``, its points as the binary message ``value`` (length a
        multiple of 8)."""
        queue = self._queued.get(id(buf.store))
        if queue is None:
            queue = self._queued[id(buf.store)] = _Queue(buf.store)
        queue.records.append(record)
        queue.values.append(value)
        queue.slots.append(buf.slot)
        queue.positions.append(self._size)
        self._size += 1

    def flush(self) -> None:
        """Apply every queued record: windows and dead letters join the job in arrival order."""
        queued, self._queued, self._size = list(self._queued.values()), {}, 0
        if len(queued) == 1:
            windows, _, refused = self._apply(queued[0])
            self.job.due += windows
            self.job.dead_letters += [letter for _, letter in refused]
            return
        ranked: list[tuple[int, int, DueWindow]] = []  # several dimensions: merge by arrival
        letters: list[tuple[int, DeadLetter]] = []
        for queue in queued:
            windows, records, refused = self._apply(queue)
            at = queue.positions
            ranked += [(at[r], i, w) for i, (r, w) in enumerate(zip(records, windows, strict=True))]
            letters += [(at[r], letter) for r, letter in refused]
        ranked.sort(key=lambda item: item[:2])
        letters.sort(key=lambda item: item[0])
        self.job.due += [w for _, _, w in ranked]
        self.job.dead_letters += [letter for _, letter in letters]

    def _apply(
        self, queue: _Queue
    ) -> tuple[list[DueWindow], list[int], list[tuple[int, DeadLetter]]]:
        """One kernel call: (windows, the queue index of each one's record, dead letters with
        their queue index)."""
        store, records = queue.store, queue.records
        slots = np.array(queue.slots, dtype=np.int64)
        values = queue.values
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        starts = np.zeros_like(lengths)
        np.cumsum(lengths[:-1], out=starts[1:])
        offsets = np.fromiter((r.offset for r in records), dtype=np.int64, count=len(records))
        kafka_ts = np.fromiter((r.timestamp for r in records), dtype=np.int64, count=len(records))
        raw = np.frombuffer(b"".join(values), dtype=np.uint8)
        status = np.empty(len(records), dtype=np.int8)
        placed = np.empty((len(records), 3), dtype=np.int64)
        out, win, counts, applied = append_binary(
            raw, starts, lengths, slots, offsets, kafka_ts,
            store.points, store.meta, store.cursor, store.sizes, store.strides,
            status, placed,
        )  # fmt: skip
        self.job.points += int(applied)
        buffers = store.buffers
        self.state.appended(buffers[slot].stream for slot in np.unique(slots).tolist())
        refused = [
            (r, _refused(records[r], buffers[slots[r]].dim))
            for r in np.flatnonzero(status != OK).tolist()
        ]
        if self.mirror is not None:  # the device rings take the same points
            data = raw.view(np.float64)
            for r in np.flatnonzero(status == OK).tolist():
                buf = buffers[slots[r]]
                start, first, n = placed[r].tolist()
                points = data[first : first + n * buf.dim].reshape(n, buf.dim)
                self.mirror.stage(self.state.partition, buf, points, start)
        return (*store.due_windows(out, win, counts), refused)


@dataclass
class _Queue:
    """One store's queued records, their values in the binary encoding, their slots and their
    positions in the run."""

    store: RingStore
    records: list[Any] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)


def _refused(record: Any, dim: int) -> DeadLetter:
    """The dead letter of a record the kernel refused, with ``decode``'s reason."""
    try:
        points, _ = decode_value(record.value)
        check_dimension(points, dim)
    except InvalidMessage as error:
        return dead_letter(record, error)
    raise RuntimeError(f"the intake kernel refused a valid message at offset {record.offset}")


def warm_up(specs: tuple[WindowSpec, ...]) -> float:
    """Apply three throwaway messages, so the intake kernels compile now rather than on the
    first micro-batch (about 20 s on a cold cache). Returns the seconds it took."""
    started = time.perf_counter()
    values = [  # the first takes the per-record path, the others a BinaryRun (the JSON one
        encode_points_binary(np.zeros((1, 1))),  # after json_kernels converted it)
        encode_points_binary(np.zeros((1, 1))),
        encode_points_json(np.zeros((1, 1))),
    ]
    records = [
        SimpleNamespace(
            key=b"w", value=value, offset=i, timestamp=0, headers=(), topic="w", partition=0
        )
        for i, value in enumerate(values)
    ]
    apply_records(PartitionState("w", 0, specs, start_offset=0), records, Job())
    return time.perf_counter() - started
