"""The Kafka worker: consume points, compute due windows in batches, publish diagrams, commit.

    async with KafkaWorker(WorkerSettings(bootstrap_servers="127.0.0.1:9092")) as worker:
        await worker.run()                      # until request_stop() / SIGTERM

Pipeline (one task each, joined by a bounded queue of ``Job``s):

* **intake** (``run``): ``getmany`` micro-batches (max records, linger) -> ``build_job``: decode,
  dead letters, ring buffers, due windows, and every ``commit_interval_ms`` a checkpoint snapshot
  per changed partition. When ``max_inflight`` jobs wait, the partitions are paused.
* **compute + publish** (``_compute_loop``): the job's windows in a thread
  (``asyncio.to_thread``; numba releases the GIL, so heartbeats go on), then dead letters and
  diagrams sent and acknowledged, then the job's checkpoints written and their offsets committed.
  A snapshot is only taken after all earlier records were turned into jobs, and jobs complete in
  order, so a checkpoint is never ahead of what was published. See ``checkpoint`` for the
  replay design.

Reliability (``breakers``): the GPU path runs behind the ``gpu`` circuit breaker (failed GPU
batches, then every GPU batch while it is open, go to the CPU), publishing behind the
``producer`` breaker (while open, the input partitions are paused; nothing is dropped or
committed), and the flag store's Redis outages show as the ``redis`` breaker. Gauges that are
not tied to an event (window memory, streams, GPU memory, the Redis breaker) are refreshed at
most every ``GAUGE_INTERVAL_S``. With ``GPU_TDA_TRACING=1`` (or ``tracing=True``) each
micro-batch is an OpenTelemetry span with its stages as children (``tracing``).

Rebalances: revoke = stop applying the partition's records, wait for every queued job, write a
final checkpoint, commit, forget the state (kept aside in case the same partition comes back
unchanged). Assign = read the partition's checkpoint, rebuild its state, seek to its replay
offset. SIGTERM: stop fetching, finish queued jobs, checkpoint, commit, leave the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from gpu_tda.backends import Backend
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming.batch import BatchStats, ComputeFn, WindowComputer
from gpu_tda.streaming.breakers import (
    BreakerConfig,
    GpuGuard,
    breaker_state,
    breaker_transitions,
    persistence_batch_fn,
    redis_state,
)
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.checkpoint_store import CheckpointStore
from gpu_tda.streaming.diagram import WindowDiagram
from gpu_tda.streaming.exceptions import WorkerStoppedError
from gpu_tda.streaming.health import HealthServer
from gpu_tda.streaming.intake import Job, build_job
from gpu_tda.streaming.publisher import Publisher
from gpu_tda.streaming.shadow import shadow_compare
from gpu_tda.streaming.topics import ensure_topics
from gpu_tda.streaming.tracing import BatchTracer, tracing_requested
from gpu_tda.streaming.windows import make_specs

log = logging.getLogger(__name__)

POLL_MS = 100
GAUGE_INTERVAL_S = 0.5


class KafkaWorker:
    """A ``StreamAdapter`` between Kafka topics and the window computer (see module doc)."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        registry: CollectorRegistry | None = None,
        flags: Any = None,
        compute_fn: ComputeFn | None = None,
        gpu_breaker: BreakerConfig | None = None,
        producer_breaker: BreakerConfig | None = None,
        publish_timeout_s: float = 5.0,
        tracing: bool | None = None,
        tracer_provider: Any = None,
    ) -> None:
        """``compute_fn`` replaces ``persistence_batch`` (tests); ``gpu_breaker`` /
        ``producer_breaker`` tune the breakers; ``publish_timeout_s`` bounds one delivery
        attempt; ``tracing`` (default: ``$GPU_TDA_TRACING``) turns spans on."""
        self.settings = settings
        self.specs = make_specs(list(settings.windows), settings.stride)
        self.metrics = WorkerMetrics(registry)
        self.gpu_guard = GpuGuard.create(
            compute_fn or persistence_batch_fn, gpu_breaker, self.metrics
        )
        self.computer = WindowComputer(
            settings.maxdim, settings.threshold, settings.backend, compute_fn=self.gpu_guard
        )
        self._producer_breaker = producer_breaker
        self._publish_timeout_s = publish_timeout_s
        self.tracer = BatchTracer(
            tracing_requested() if tracing is None else tracing, tracer_provider
        )
        self._spans: dict[int, Any] = {}
        self._pause_reasons: set[str] = set()
        self._last_gauges = 0.0
        self._gpu_used = False
        for i, spec in enumerate(self.specs):
            self.metrics.window_size.labels(scale=str(i)).set(spec.size)
        self._flags = flags
        self._owns_flags = False
        self._states: dict[int, PartitionState] = {}
        self._parked: dict[int, tuple[PartitionState, dict[str, Any]]] = {}
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=settings.max_inflight)
        self._created = 0
        self._completed = 0
        self._progress = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._assigned = False
        self._last_checkpoint = time.monotonic()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._publisher: Publisher | None = None
        self._store: CheckpointStore | None = None
        self._health: HealthServer | None = None
        self._compute_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self.windows_published = 0
        self.records_handled = 0

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Create missing topics, connect, join the group (assignment arrives while running)."""
        if self._closed:
            raise WorkerStoppedError("this worker was stopped; create a new one")
        if self._started:
            return
        self._started = True
        s = self.settings
        counts = await ensure_topics(
            s.bootstrap_servers,
            {s.input_topic: s.partitions, s.output_topic: s.partitions, s.dlq_topic: s.partitions},
        )
        ckpt_parts = (
            await ensure_topics(
                s.bootstrap_servers,
                {s.checkpoint_topic_name: counts[s.input_topic]},
                configs={s.checkpoint_topic_name: {"cleanup.policy": "compact"}},
            )
        )[s.checkpoint_topic_name]
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=s.client_id,
            linger_ms=5,
            acks="all",
            max_batch_size=1 << 20,  # a maxdim-0 diagram of 128 points is ~3.5 KB: batch many
        )
        await self._producer.start()
        self._publisher = Publisher(
            self._producer,
            s.output_topic,
            s.dlq_topic,
            self.metrics,
            breaker_config=self._producer_breaker,
            on_breaker_change=self._on_producer_breaker,
            attempt_timeout_s=self._publish_timeout_s,
        )
        self._store = CheckpointStore(
            s.bootstrap_servers, s.checkpoint_topic_name, self._producer, partitions=ckpt_parts
        )
        await self._store.start()
        if self._flags is None and s.redis_url:
            from gpu_tda.flags import FlagClient, FlagMetrics

            self._flags = FlagClient.from_url(
                s.redis_url, metrics=FlagMetrics(self.metrics.registry)
            )
            self._owns_flags = True
            await asyncio.to_thread(self._flags.start)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=s.group_id,
            client_id=s.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=max(100, s.session_timeout_ms // 4),
            max_poll_interval_ms=max(300_000, s.session_timeout_ms),
            max_partition_fetch_bytes=4 << 20,
            fetch_max_wait_ms=100,  # the broker may hold an empty fetch this long
        )
        self._consumer.subscribe([s.input_topic], listener=_Listener(self))
        await self._consumer.start()
        self._compute_task = asyncio.create_task(self._compute_loop(), name="gpu-tda-compute")
        if s.metrics_port is not None:
            self._health = HealthServer(
                self.metrics.registry, lambda: self.ready, s.metrics_port, self.breaker_states
            )
            await self._health.start()

    @property
    def ready(self) -> bool:
        """True once partitions are assigned and their windows restored."""
        return self._assigned and not self._stopping.is_set()

    @property
    def metrics_port(self) -> int | None:
        return None if self._health is None else self._health.port

    def request_stop(self) -> None:
        """Ask ``run`` to return after the current micro-batch (signal-handler safe)."""
        self._stopping.set()

    async def stop(self) -> None:
        """Finish queued work, checkpoint, commit, leave the group, close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        try:
            if self._started:
                await asyncio.wait_for(self._final_flush(), self.settings.shutdown_timeout_s)
        except Exception:
            log.exception("final flush did not complete; uncommitted input will be replayed")
        finally:
            await self._close_clients()

    async def _final_flush(self) -> None:
        await self._drain()
        states, self._states = self._states, {}
        await self._save_and_commit([s.snapshot() for s in states.values()])

    async def _close_clients(self) -> None:
        if self._compute_task is not None:
            self._compute_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._compute_task
        for closer in (
            self._consumer.stop if self._consumer else None,  # leaves the group
            self._store.stop if self._store else None,
            self._producer.stop if self._producer else None,
            self._health.stop if self._health else None,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        if self._owns_flags and self._flags is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._flags.stop)

    async def __aenter__(self) -> KafkaWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- intake ---------------------------------------------------------------------------------
    async def run(self, count: int | None = None, timeout: float | None = None) -> int:
        """Consume until ``count`` records were handled, ``timeout`` s passed or a stop request.

        Returns after every window of the handled records is published. Records handled
        include dead letters and replayed records that were skipped.
        """
        if not self._started or self._closed:
            raise WorkerStoppedError("run() needs a started, not stopped worker")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        handled = 0
        while not self._stopping.is_set():
            if count is not None and handled >= count:
                break
            wait_ms = POLL_MS
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait_ms = max(1, min(wait_ms, int(remaining * 1000)))
            limit = self.settings.max_batch_records
            if count is not None:
                limit = min(limit, count - handled)
            job = await self._fetch_job(wait_ms, limit)
            if job is None:
                job = Job()  # idle: still checkpoint what changed since the last one
                self._maybe_snapshot(job)
                self._refresh_gauges()
                if job.checkpoints:
                    await self._enqueue(job)
                continue
            handled += job.records
            await self._enqueue(job)
        await self._drain()
        return handled

    async def _fetch_job(self, wait_ms: int, limit: int) -> Job | None:
        """One micro-batch: a ``getmany``, then more until ``limit`` records or the linger."""
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=wait_ms, max_records=limit)
        owners = dict(self._states)  # the partition states these records belong to
        total = sum(len(records) for records in batch.values())
        linger = self.settings.linger_ms / 1000
        if total and total < limit and linger > 0:
            loop = asyncio.get_running_loop()
            end = loop.time() + linger
            while total < limit and (left := end - loop.time()) > 0:
                more = await self._consumer.getmany(
                    timeout_ms=max(1, int(left * 1000)), max_records=limit - total
                )
                total -= self._drop_stale(batch, owners)
                owners = dict(self._states)
                for tp, records in more.items():
                    batch.setdefault(tp, []).extend(records)
                    total += len(records)
        if not total:
            return None
        for tp, records in batch.items():
            if tp.partition in self._states:  # others arrived before their state was restored
                self.metrics.messages_received.labels(topic=tp.topic).inc(len(records))
        root = self.tracer.start_batch(fetched=total, partitions=len(batch))
        with self.tracer.stage(root, "decode_buffer", fetched=total):
            job = build_job(batch, self._states, self.metrics, self._choose_backend)
        if root is not None:
            root.set_attributes(
                {"records": job.records, "points": job.points, "windows": len(job.due)}
            )
            self._spans[id(job)] = root
        self.records_handled += job.records
        self._maybe_snapshot(job)
        self._observe_lag()
        self._refresh_gauges()
        return job

    def _drop_stale(self, batch: dict[Any, list[Any]], owners: dict[int, PartitionState]) -> int:
        """Forget records fetched for a partition state that a rebalance replaced meanwhile.

        The new state was restored from its checkpoint and the consumer seeked to its replay
        offset, so those records come again (to us or to the partition's new owner).
        """
        dropped = 0
        for tp in list(batch):
            if self._states.get(tp.partition) is not owners.get(tp.partition):
                dropped += len(batch.pop(tp))
        return dropped

    def _maybe_snapshot(self, job: Job) -> None:
        now = time.monotonic()
        if now - self._last_checkpoint < self.settings.commit_interval_ms / 1000:
            return
        self._last_checkpoint = now
        for state in self._states.values():
            if state.dirty:
                doc = state.snapshot()
                if doc is not None:
                    job.checkpoints.append(doc)
                state.dirty = False

    def _refresh_gauges(self, force: bool = False) -> None:
        """Gauges not tied to an event, at most every ``GAUGE_INTERVAL_S``."""
        now = time.monotonic()
        if not force and now - self._last_gauges < GAUGE_INTERVAL_S:
            return
        self._last_gauges = now
        m = self.metrics
        m.window_memory.set(self.memory_bytes())
        m.streams.set(sum(len(s.buffers) for s in self._states.values()))
        state = redis_state(self._flags)
        if state is not None:
            m.set_breaker("redis", state)
        if self._gpu_used:
            from gpu_tda.gpu_engine import device_memory

            with contextlib.suppress(Exception):
                report = device_memory()
                m.gpu_memory_used.set(report.current_bytes)
                m.gpu_memory_total.set(report.total_bytes or 0)

    def _observe_lag(self) -> None:
        assert self._consumer is not None
        for partition, state in self._states.items():
            tp = TopicPartition(self.settings.input_topic, partition)
            with contextlib.suppress(Exception):
                high = self._consumer.highwater(tp)
                if high is not None and state.position is not None:
                    self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(partition)).set(
                        max(0, high - state.position)
                    )

    def _choose_backend(self, stream: str) -> tuple[str, bool]:
        backend, shadow = self.computer.backend, False
        if self._flags is not None:
            from gpu_tda.flags import GPU_COMPUTE, SHADOW_COMPARE

            if self._flags.is_enabled(GPU_COMPUTE, stream):
                backend = Backend.GPU.value
            shadow = self._flags.is_enabled(SHADOW_COMPARE, stream)
        return backend, shadow

    async def _enqueue(self, job: Job) -> None:
        assert self._consumer is not None
        self._created += 1
        self.metrics.inflight_batches.set(self._created - self._completed)
        if self._queue.full():
            self._pause("backpressure")
        await self._queue.put(job)

    def _maybe_resume(self) -> None:
        if self._queue.qsize() <= self.settings.max_inflight // 2:
            self._resume("backpressure")

    def _pause(self, reason: str) -> None:
        """Pause every assigned input partition (until no reason is left)."""
        if self._consumer is None:
            return
        self._pause_reasons.add(reason)
        parts = self._consumer.assignment()
        self._consumer.pause(*parts)
        self.metrics.paused_partitions.set(len(parts))

    def _resume(self, reason: str) -> None:
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if not self._pause_reasons and self._consumer is not None:
            self._consumer.resume(*self._consumer.paused())
            self.metrics.paused_partitions.set(0)

    def _on_producer_breaker(self, name: str, state: str) -> None:
        """Producer breaker open: stop taking input until publishing works again."""
        if state == "open":
            self._pause("producer")
        elif state == "closed":
            self._resume("producer")

    @property
    def paused(self) -> bool:
        """Whether the input partitions are paused (backpressure or producer breaker)."""
        return bool(self._pause_reasons)

    def breaker_history(self) -> dict[str, list[str]]:
        """The states each breaker moved to, oldest first (gpu, producer)."""
        history = {"gpu": breaker_transitions(self.gpu_guard.breaker)}
        if self._publisher is not None:
            history["producer"] = breaker_transitions(self._publisher.breaker)
        return history

    def breaker_states(self) -> dict[str, str]:
        """Every breaker's state: "closed", "open" or "half_open"."""
        states = {"gpu": breaker_state(self.gpu_guard.breaker)}
        if self._publisher is not None:
            states["producer"] = breaker_state(self._publisher.breaker)
        redis = redis_state(self._flags)
        if redis is not None:
            states["redis"] = redis
        return states

    async def _drain(self) -> None:
        """Wait until every job created so far is published (and its checkpoints committed)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._completed >= self._created)

    # -- compute + publish ----------------------------------------------------------------------
    async def _compute_loop(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._complete(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.metrics.processing_errors.labels(stage="job").inc()
                log.exception("a micro-batch failed; the next checkpoint covers it")
            finally:
                self._queue.task_done()
                async with self._progress:
                    self._completed += 1
                    self._progress.notify_all()
                self.metrics.inflight_batches.set(self._created - self._completed)
                self._maybe_resume()

    async def _complete(self, job: Job) -> None:
        root = self._spans.pop(id(job), None)
        try:
            await self._complete_traced(job, root)
        finally:
            self.tracer.end_batch(root)

    async def _complete_traced(self, job: Job, root: Any) -> None:
        diagrams: list[WindowDiagram] = []
        tracer = self.tracer
        if job.due:
            with tracer.stage(root, "compute", windows=len(job.due)):
                try:
                    diagrams = await asyncio.to_thread(self._compute, job)
                except Exception:
                    self.metrics.processing_errors.labels(stage="compute").inc()
                    log.exception("computing %d windows failed; they are skipped", len(job.due))
        assert self._publisher is not None
        if diagrams or job.dead_letters:
            with tracer.stage(
                root, "publish", diagrams=len(diagrams), dead_letters=len(job.dead_letters)
            ):
                await self._publisher.publish(diagrams, job.dead_letters)
        self.windows_published += len(diagrams)
        if job.checkpoints:
            with tracer.stage(root, "commit", partitions=len(job.checkpoints)):
                await self._publisher.guarded(
                    self._save_and_commit, job.checkpoints, stage="checkpoint"
                )

    def _compute(self, job: Job) -> list[WindowDiagram]:
        stats = BatchStats()
        self.gpu_guard.take_fallbacks()  # forget shadow-compare failures of earlier jobs
        diagrams = self.computer.compute(job.due, job.backends, stats)
        maxdim = str(self.computer.maxdim)
        for backend, seconds in stats.seconds.items():
            self.metrics.compute_seconds.labels(backend=backend, maxdim=maxdim).observe(seconds)
        # one reason per GPU batch redone on the CPU (the guard's labels are finer than stats')
        for reason in self.gpu_guard.take_fallbacks():
            self.metrics.backend_fallbacks.labels(reason=reason).inc()
        if Backend.GPU.value in stats.seconds:
            self._gpu_used = True
        if job.shadow:
            shadow_compare(self.computer, job.due, diagrams, job.shadow, self.metrics)
        return diagrams

    async def _save_and_commit(self, docs: list[dict[str, Any] | None]) -> None:
        assert self._store is not None and self._consumer is not None
        offsets = {}
        for doc in docs:
            if doc is None:
                continue
            await self._store.save(doc)
            self.metrics.checkpoints.inc()
            tp = TopicPartition(self.settings.input_topic, int(doc["partition"]))
            offsets[tp] = OffsetAndMetadata(int(doc["offset"]), "")
        if offsets:
            try:  # informational (lag tools): the checkpoint is what a restart reads
                await self._consumer.commit(offsets)
            except Exception as exc:
                self.metrics.processing_errors.labels(stage="commit").inc()
                log.info("offset commit skipped (%s); the checkpoint is saved", exc)

    # -- rebalance ------------------------------------------------------------------------------
    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Flush and checkpoint the partitions we lose, then forget them."""
        self._assigned = False
        mine = {
            tp.partition: self._states.pop(tp.partition)
            for tp in revoked
            if tp.topic == self.settings.input_topic and tp.partition in self._states
        }
        if not mine:
            return
        try:
            await self._drain()
            docs = {p: state.snapshot() for p, state in mine.items()}
            await self._save_and_commit(list(docs.values()))
            for p, state in mine.items():
                doc = docs[p]
                if doc is not None:
                    self._parked[p] = (state, doc)
        except Exception:
            log.exception("flushing revoked partitions failed; they will be replayed")

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Rebuild each new partition's windows from its checkpoint and seek to its replay start."""
        assert self._consumer is not None and self._store is not None
        topic = self.settings.input_topic
        for tp in sorted(assigned, key=lambda t: t.partition):
            if tp.topic != topic or tp.partition in self._states:
                continue
            doc = await self._store.load(topic, tp.partition)
            parked = self._parked.pop(tp.partition, None)
            if doc is not None and parked is not None and parked[1] == doc:
                state = parked[0]  # nobody else touched it since we let it go
                assert state.position is not None
                self._consumer.seek(tp, state.position)
            elif doc is not None:
                state = PartitionState.restore(topic, tp.partition, self.specs, doc)
                assert state.start_offset is not None
                self._consumer.seek(tp, state.start_offset)
                log.info("partition %d: replaying from offset %d", tp.partition, state.start_offset)
            else:
                committed = await self._consumer.committed(tp)
                if committed is not None:
                    log.warning(
                        "partition %d has a committed offset but no checkpoint; "
                        "replaying it from the beginning",
                        tp.partition,
                    )
                begin = (await self._consumer.beginning_offsets([tp]))[tp]
                state = PartitionState(topic, tp.partition, self.specs, start_offset=begin)
                self._consumer.seek(tp, begin)
            self._states[tp.partition] = state
        self._parked.clear()
        self._assigned = True
        if self._pause_reasons:  # a new assignment starts unpaused
            self._consumer.pause(*self._consumer.assignment())

    def memory_bytes(self) -> int:
        return sum(state.memory_bytes() for state in self._states.values())

    def diagnostics(self) -> dict[str, Any]:
        """A small status dict (partitions, streams, buffered bytes) for status lines."""
        return {
            "partitions": sorted(self._states),
            "streams": sum(len(s.buffers) for s in self._states.values()),
            "records": self.records_handled,
            "windows": self.windows_published,
        }


class _Listener(ConsumerRebalanceListener):
    def __init__(self, worker: KafkaWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker.on_assigned(assigned)
