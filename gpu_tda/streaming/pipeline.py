"""Jobs through the worker's stages, in order, each stage its own task so that they overlap::

    submit -> [waiting] -> compute (kernel, encode) -> send (to the producer)
           -> confirm (acknowledged) -> checkpoint + offset commit -> done

* **Adaptive batches.** A job still waiting for compute absorbs the next submitted job while
  the two hold at most ``max_batch_records`` records: an idle worker computes each fetch at
  once (low latency), a busy one computes larger batches (throughput).
* **Compute off the loop.** A job is computed in a thread (numba releases the GIL), unless
  ``inline(job)`` says it is small enough to run on the loop (``compute_stage``). The thread
  then goes straight on with the jobs already waiting behind it (those not small), without a
  round trip through the event loop between them: under load the loop runs long callbacks
  (decoding a fetch of 2,000 records takes milliseconds), and a compute thread that waited for
  the loop to hand it each job sat idle for 17% of a drain.
* **Overlap.** Job N+1 is computed while job N's messages wait for their acknowledgements and
  its checkpoints are written; its messages are sent as soon as it is computed.
* **Order.** Every stage takes jobs in submission order. A job's checkpoints are written only
  after its messages and those of every earlier job were acknowledged, so a checkpoint is
  never ahead of what was published, and commits happen in order.
* **Bounded.** At most ``max_inflight`` full micro-batches of records (``max_inflight *
  max_batch_records``) are between submit and done; at the limit the input partitions pause
  (reason ``backpressure``) and ``submit`` waits; they resume once no more than half that
  many are left. Counting records, not jobs, lets many small jobs overlap at low load.

A job whose compute fails publishes its dead letters and checkpoints without the windows (they
are logged and counted); a job that fails later is counted and its checkpoints are not written
(the next checkpoint covers its partitions).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.backpressure import InputPause
from gpu_tda.streaming.compute_stage import Computed
from gpu_tda.streaming.intake import Job
from gpu_tda.streaming.publisher import Delivery, Publisher
from gpu_tda.streaming.tracing import BatchTracer

log = logging.getLogger(__name__)

Commit = Callable[[list[dict[str, Any] | None]], Awaitable[None]]


@dataclass
class _Sent:
    """A computed job whose messages were handed to the producer (delivery None: failed)."""

    computed: Computed
    delivery: Delivery | None
    span: Any = None


class Pipeline:
    """The compute, send and confirm stages of a worker, joined in order (see module doc)."""

    def __init__(
        self,
        compute: Callable[[Job], Computed],
        publisher: Publisher,
        commit: Commit,
        *,
        metrics: WorkerMetrics,
        tracer: BatchTracer,
        pause: InputPause,
        max_inflight: int,
        max_batch_records: int,
        inline: Callable[[Job], bool] | None = None,
    ) -> None:
        self._compute = compute
        self._inline = inline
        self._publisher = publisher
        self._commit = commit
        self._metrics = metrics
        self._tracer = tracer
        self._pause = pause
        self._max_batch_records = max_batch_records
        self._waiting: collections.deque[Job] = collections.deque()
        self._waiting_lock = threading.Lock()  # the compute thread takes jobs from _waiting too
        self._job_ready = asyncio.Event()
        self._to_send: asyncio.Queue[Computed] = asyncio.Queue()
        self._to_confirm: asyncio.Queue[_Sent] = asyncio.Queue()
        self._progress = asyncio.Condition()
        self._created = 0
        self._completed = 0
        self._records = 0  # records of the jobs in flight
        self._max_records = max_inflight * max_batch_records
        self._tasks: list[asyncio.Task[None]] = []
        self.windows_published = 0

    def start(self) -> None:
        """Start the stage tasks (on the running loop)."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._compute_stage(), name="gpu-tda-compute"),
                asyncio.create_task(self._send_stage(), name="gpu-tda-send"),
                asyncio.create_task(self._confirm_stage(), name="gpu-tda-confirm"),
            ]

    async def stop(self) -> None:
        """Cancel the stage tasks (what is in flight is dropped: ``drain`` first to keep it)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def inflight(self) -> int:
        """Jobs submitted and not done yet."""
        return self._created - self._completed

    def _full(self, records: int) -> bool:
        return self.inflight > 0 and self._records + records > self._max_records

    async def submit(self, job: Job) -> None:
        """Queue ``job`` for compute, or merge it into the job waiting there.

        Waits (with the input paused) while the records in flight are at the limit.
        """
        with self._waiting_lock:
            if self._waiting:
                last = self._waiting[-1]
                if last.records + job.records <= self._max_batch_records:
                    last.merge(job)
                    self._records += job.records
                    return
        if self._full(job.records):
            self._pause.pause("backpressure")
            async with self._progress:
                await self._progress.wait_for(lambda: not self._full(job.records))
        self._created += 1
        self._records += job.records
        self._metrics.inflight_batches.set(self.inflight)
        with self._waiting_lock:
            self._waiting.append(job)
        self._job_ready.set()

    async def drain(self) -> None:
        """Wait until every job submitted so far is done (published, checkpoints written)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._completed >= self._created)

    # -- the stages -----------------------------------------------------------------------------
    async def _compute_stage(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._job_ready.clear()
                await self._job_ready.wait()
            with self._waiting_lock:
                job = self._waiting.popleft()
            if self._inline is not None and self._inline(job):
                self._to_send.put_nowait(self._compute_job(job))
            else:
                await asyncio.to_thread(self._compute_run, job, loop)

    def _compute_run(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        """On the compute thread: ``job``, then each job waiting behind it that is not small,
        each handed to the send stage as soon as it is computed (none once ``stop`` ran)."""
        while True:
            computed = self._compute_job(job)
            try:
                loop.call_soon_threadsafe(self._to_send.put_nowait, computed)
            except RuntimeError:  # the loop closed meanwhile (the worker was stopped)
                return
            with self._waiting_lock:
                head = self._waiting[0] if self._waiting and self._tasks else None
            # judged outside the lock, so that submit never waits on it; only this thread
            # takes jobs meanwhile, and merging into ``head`` only makes it larger
            if head is None or (self._inline is not None and self._inline(head)):
                return
            with self._waiting_lock:
                job = self._waiting.popleft()

    def _compute_job(self, job: Job) -> Computed:
        """``job`` computed; without its windows (counted, logged) when that fails."""
        root = job.spans[0] if job.spans else None
        try:
            with self._tracer.stage(root, "compute", windows=len(job.due)):
                return self._compute(job)
        except Exception:
            self._metrics.processing_errors.labels(stage="compute").inc()
            log.exception("computing %d windows failed; they are skipped", len(job.due))
            return Computed(job, [], [])

    async def _send_stage(self) -> None:
        while True:
            computed = await self._to_send.get()
            job = computed.job
            sent = _Sent(computed, None)
            try:
                if computed.values or job.dead_letters:
                    sent.span = self._tracer.open_stage(
                        job.spans[0] if job.spans else None,
                        "publish",
                        diagrams=len(computed.values),
                        dead_letters=len(job.dead_letters),
                    )
                    sent.delivery = await self._publisher.send(
                        job.due, computed.values, computed.backends, job.dead_letters
                    )
                else:
                    sent.delivery = Delivery([], [], [], 0)
            except Exception:
                log.exception("handing a micro-batch to the producer failed")
            self._to_confirm.put_nowait(sent)

    async def _confirm_stage(self) -> None:
        while True:
            sent = await self._to_confirm.get()
            job = sent.computed.job
            try:
                await self._confirm(sent)
            except Exception:
                self._metrics.processing_errors.labels(stage="job").inc()
                log.exception("a micro-batch failed; the next checkpoint covers it")
            finally:
                self._tracer.close(sent.span)
                for root in job.spans:
                    self._tracer.end_batch(root)
                await self._done(job.records)

    async def _confirm(self, sent: _Sent) -> None:
        if sent.delivery is None:
            raise RuntimeError("the micro-batch was not handed to the producer")
        await self._publisher.confirm(sent.delivery)
        self._tracer.close(sent.span)
        sent.span = None
        job = sent.computed.job
        self.windows_published += len(sent.computed.values)
        if job.checkpoints:
            root = job.spans[0] if job.spans else None
            with self._tracer.stage(root, "commit", partitions=len(job.checkpoints)):
                await self._publisher.guarded(self._commit, job.checkpoints, stage="checkpoint")

    async def _done(self, records: int) -> None:
        async with self._progress:
            self._completed += 1
            self._records -= records
            self._progress.notify_all()
        self._metrics.inflight_batches.set(self.inflight)
        if self._records <= self._max_records // 2:
            self._pause.resume("backpressure")
