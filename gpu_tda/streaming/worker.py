"""The Kafka worker: consume points, compute due windows in batches, publish diagrams, commit.

    async with KafkaWorker(WorkerSettings(bootstrap_servers="127.0.0.1:9092")) as worker:
        await worker.run()                      # until request_stop() / SIGTERM

The data path, one module per step:

* ``fetch``: messages -> a micro-batch of records (``getmany``, max records, linger);
* ``intake``: records -> decode -> ring buffers -> due windows, dead letters: a ``Job``; every
  ``commit_interval_ms`` a checkpoint snapshot per changed partition joins the job; when
  windows may run on a usable GPU, ``device_mirror`` keeps the points in device rings too and
  the job carries its GPU windows gathered there;
* ``pipeline``: jobs in order through ``compute_stage`` (batch -> kernel -> diagrams ->
  encoded, in a thread), ``publisher`` (-> messages, acknowledged) and ``committer``
  (checkpoint, offset commit), the stages overlapping, with bounded work in flight
  (``backpressure`` pauses the input at the limit);
* ``rebalance``: partitions revoked (flush, checkpoint, commit) and assigned (restore, seek).

This module wires them: ``run`` is the intake loop; ``start``/``stop`` the client lifecycle.

Reliability (``breakers``): the GPU path runs behind the ``gpu`` circuit breaker (failed GPU
batches, then every GPU batch while it is open, go to the CPU), publishing behind the
``producer`` breaker (while open, the input partitions are paused; nothing is dropped or
committed), and the flag store's Redis outages show as the ``redis`` breaker. Gauges that are
not tied to an event (window memory, streams, GPU memory, the Redis breaker) are refreshed at
most every ``GAUGE_INTERVAL_S``. With ``GPU_TDA_TRACING=1`` (or ``tracing=True``) each
micro-batch is an OpenTelemetry span with its stages as children (``tracing``).

SIGTERM: stop fetching, finish the jobs in flight, checkpoint, commit, leave the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from gpu_tda.backends import Backend, available_backends
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.settings import WorkerSettings
from gpu_tda.streaming.backpressure import InputPause
from gpu_tda.streaming.batch import ComputeFn, WindowComputer, persistence_batch_fn
from gpu_tda.streaming.breakers import (
    BreakerConfig,
    GpuGuard,
    breaker_state,
    breaker_transitions,
    redis_state,
)
from gpu_tda.streaming.checkpoint import PartitionState
from gpu_tda.streaming.checkpoint_store import CheckpointStore
from gpu_tda.streaming.committer import Committer
from gpu_tda.streaming.compute_stage import JobComputer
from gpu_tda.streaming.diagram import warm_up as warm_up_encoder
from gpu_tda.streaming.exceptions import WorkerStoppedError
from gpu_tda.streaming.fetch import fetch_micro_batch
from gpu_tda.streaming.health import HealthServer
from gpu_tda.streaming.intake import Job, build_job
from gpu_tda.streaming.intake import warm_up as warm_up_intake
from gpu_tda.streaming.kafka_clients import make_consumer, make_producer
from gpu_tda.streaming.pipeline import Pipeline
from gpu_tda.streaming.publisher import Publisher
from gpu_tda.streaming.rebalance import Rebalancer
from gpu_tda.streaming.topics import ensure_topics
from gpu_tda.streaming.tracing import BatchTracer, tracing_requested
from gpu_tda.streaming.windows import buffer_capacity, make_specs

if TYPE_CHECKING:
    from gpu_tda.streaming.device_mirror import DeviceMirror

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
        """``compute_fn`` replaces ``persistence_batch`` (tests; windows gathered from the
        device rings still go to the GPU engine); ``gpu_breaker`` / ``producer_breaker`` tune
        the breakers; ``publish_timeout_s`` bounds one delivery attempt; ``tracing`` (default:
        ``$GPU_TDA_TRACING``) turns spans on."""
        self.settings = settings
        self.specs = make_specs(list(settings.windows), settings.stride)
        self.metrics = WorkerMetrics(registry)
        self.gpu_guard = GpuGuard.create(
            compute_fn or persistence_batch_fn, gpu_breaker, self.metrics
        )
        self.computer = WindowComputer(
            settings.maxdim,
            settings.threshold,
            settings.backend,
            compute_fn=self.gpu_guard,
            device_fn=self.gpu_guard.on_device,
        )
        self._job_computer = JobComputer(
            self.computer, self.gpu_guard, self.metrics, direct_cpu=compute_fn is None
        )
        # which jobs run on the event loop: the cost estimate is of gpu-tda's own engine, so a
        # replaced compute_fn (tests), which may take any time, always runs in the thread
        self._inline = self._job_computer.small if compute_fn is None else None
        self._producer_breaker = producer_breaker
        self._publish_timeout_s = publish_timeout_s
        self.tracer = BatchTracer(
            tracing_requested() if tracing is None else tracing, tracer_provider
        )
        self._input_pause = InputPause(self.metrics)
        self._last_gauges = 0.0
        for i, spec in enumerate(self.specs):
            self.metrics.window_size.labels(scale=str(i)).set(spec.size)
        self._flags = flags
        self._owns_flags = False
        self.device_mirror = self._make_device_mirror(flags is not None or bool(settings.redis_url))
        self._states: dict[int, PartitionState] = {}
        self._stopping = asyncio.Event()
        self._last_checkpoint = time.monotonic()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._publisher: Publisher | None = None
        self._store: CheckpointStore | None = None
        self._committer: Committer | None = None
        self._pipeline: Pipeline | None = None
        self._rebalancer: Rebalancer | None = None
        self._health: HealthServer | None = None
        self._started = False
        self._closed = False
        self.records_handled = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def warm_up(self) -> float:
        """Compile the compute engine's, the intake's, the encoder's and (with a device mirror)
        the device rings' kernels now, not on the first micro-batch (a first run on a machine
        takes up to a minute at maxdim 0-1). Blocking: call it in a thread. Returns the seconds
        it took."""
        seconds = self.computer.warm_up() + warm_up_intake(self.specs) + warm_up_encoder()
        if self.device_mirror is not None:
            from gpu_tda.streaming.device_ring import warm_up as warm_up_device_rings

            seconds += warm_up_device_rings()
        return seconds

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
        self._producer = make_producer(s)
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
        self._consumer = make_consumer(s)
        self._input_pause.attach(self._consumer)
        self._committer = Committer(self._store, self._consumer, s.input_topic, self.metrics)
        self._pipeline = Pipeline(
            self._job_computer,
            self._publisher,
            self._committer.commit,
            metrics=self.metrics,
            tracer=self.tracer,
            pause=self._input_pause,
            max_inflight=s.max_inflight,
            max_batch_records=s.max_batch_records,
            inline=self._inline,
        )
        self._rebalancer = Rebalancer(
            s.input_topic,
            self.specs,
            self._states,
            consumer=self._consumer,
            store=self._store,
            committer=self._committer,
            drain=self._pipeline.drain,
            pause=self._input_pause,
            release=None if self.device_mirror is None else self.device_mirror.release,
        )
        self._consumer.subscribe([s.input_topic], listener=self._rebalancer)
        await self._consumer.start()
        self._pipeline.start()
        if s.metrics_port is not None:
            self._health = HealthServer(
                self.metrics.registry, lambda: self.ready, s.metrics_port, self.breaker_states
            )
            await self._health.start()

    @property
    def ready(self) -> bool:
        """True once partitions are assigned and their windows restored."""
        assigned = self._rebalancer is not None and self._rebalancer.assigned
        return assigned and not self._stopping.is_set()

    @property
    def metrics_port(self) -> int | None:
        return None if self._health is None else self._health.port

    @property
    def windows_published(self) -> int:
        """Windows whose diagrams the broker acknowledged."""
        return 0 if self._pipeline is None else self._pipeline.windows_published

    @property
    def paused(self) -> bool:
        """Whether the input partitions are paused (backpressure or producer breaker)."""
        return self._input_pause.paused

    def request_stop(self) -> None:
        """Ask ``run`` to return after the current micro-batch (signal-handler safe)."""
        self._stopping.set()

    async def stop(self) -> None:
        """Finish the jobs in flight, checkpoint, commit, leave the group, close. Idempotent."""
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
        assert self._pipeline is not None and self._committer is not None
        await self._pipeline.drain()
        states = list(self._states.values())
        self._states.clear()
        await self._committer.commit([s.snapshot() for s in states])

    async def _close_clients(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.stop()
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
        assert self._pipeline is not None
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
                    await self._pipeline.submit(job)
                continue
            handled += job.records
            await self._pipeline.submit(job)
        await self._pipeline.drain()
        return handled

    async def _fetch_job(self, wait_ms: int, limit: int) -> Job | None:
        """One micro-batch of records -> a job (None when nothing came)."""
        assert self._consumer is not None
        batch = await fetch_micro_batch(
            self._consumer,
            self._states,
            wait_ms=wait_ms,
            limit=limit,
            linger_s=self.settings.linger_ms / 1000,
        )
        total = sum(len(records) for records in batch.values())
        if not total:
            return None
        for tp, records in batch.items():
            if tp.partition in self._states:  # others arrived before their state was restored
                self.metrics.messages_received.labels(topic=tp.topic).inc(len(records))
        root = self.tracer.start_batch(fetched=total, partitions=len(batch))
        with self.tracer.stage(root, "decode_buffer", fetched=total):
            job = build_job(
                batch, self._states, self.metrics, self._choose_backend, self.device_mirror
            )
        if root is not None:
            root.set_attributes(
                {"records": job.records, "points": job.points, "windows": len(job.due)}
            )
            job.spans.append(root)
        self.records_handled += job.records
        self._maybe_snapshot(job)
        self._observe_lag()
        self._refresh_gauges()
        return job

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

    def _refresh_gauges(self) -> None:
        """Gauges not tied to an event, at most every ``GAUGE_INTERVAL_S``."""
        now = time.monotonic()
        if now - self._last_gauges < GAUGE_INTERVAL_S:
            return
        self._last_gauges = now
        m = self.metrics
        m.window_memory.set(self.memory_bytes())
        if self.device_mirror is not None:
            m.device_ring_memory.set(self.device_mirror.memory_bytes())
        m.streams.set(sum(len(s.buffers) for s in self._states.values()))
        state = redis_state(self._flags)
        if state is not None:
            m.set_breaker("redis", state)
        if self._job_computer.gpu_used:
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

    def _make_device_mirror(self, has_flags: bool) -> DeviceMirror | None:
        """Device rings following the host ones, when windows may run on a usable GPU (the
        backend is gpu, or the gpu-compute flag can move streams there)."""
        gpu = Backend.GPU.value
        if not (self.computer.backend == gpu or has_flags) or gpu not in available_backends():
            return None
        from gpu_tda.streaming.device_mirror import DeviceMirror

        # twice the largest window: a window due early in a micro-batch stays in its slot
        # while up to that many more points of its stream arrive in the same micro-batch
        return DeviceMirror(2 * buffer_capacity(self.specs))

    def _choose_backend(self, stream: str) -> tuple[str, bool]:
        backend, shadow = self.computer.backend, False
        if self._flags is not None:
            from gpu_tda.flags import GPU_COMPUTE, SHADOW_COMPARE

            if self._flags.is_enabled(GPU_COMPUTE, stream):
                backend = Backend.GPU.value
            shadow = self._flags.is_enabled(SHADOW_COMPARE, stream)
        return backend, shadow

    def _on_producer_breaker(self, name: str, state: str) -> None:
        """Producer breaker open: stop taking input until publishing works again."""
        if state == "open":
            self._input_pause.pause("producer")
        elif state == "closed":
            self._input_pause.resume("producer")

    # -- status ---------------------------------------------------------------------------------
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

    def memory_bytes(self) -> int:
        """Bytes held by the ring buffers of every assigned partition."""
        return sum(state.memory_bytes() for state in self._states.values())

    def diagnostics(self) -> dict[str, Any]:
        """A small status dict (partitions, streams, buffered bytes) for status lines."""
        return {
            "partitions": sorted(self._states),
            "streams": sum(len(s.buffers) for s in self._states.values()),
            "records": self.records_handled,
            "windows": self.windows_published,
        }
