"""The worker's compute stage: which jobs run on the event loop, that both ways give the same
encoded diagrams, equal to ripser's, and that the compute thread does not wait for the loop."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.backpressure import InputPause
from gpu_tda.streaming.batch import WindowComputer
from gpu_tda.streaming.breakers import GpuGuard
from gpu_tda.streaming.compute_stage import Computed, JobComputer
from gpu_tda.streaming.intake import Job
from gpu_tda.streaming.pipeline import Pipeline
from gpu_tda.streaming.publisher import Publisher
from gpu_tda.streaming.ring_buffer import DueWindow
from gpu_tda.streaming.tracing import BatchTracer
from gpu_tda.streaming.windows import WindowSpec
from tests.diagram_oracle import assert_same_diagrams, ripser_diagrams


def job_of(count: int, n: int, backend: str = "cpu", seed: int = 0) -> Job:
    rng = np.random.default_rng(seed)
    spec = WindowSpec(n, n)
    due = [
        DueWindow(f"s{i}", spec, 0, rng.normal(size=(n, 3)), 0, n - 1, 0, 1) for i in range(count)
    ]
    return Job(records=count, points=count * n, due=due, backends=[backend] * count)


def job_computer(maxdim: int) -> JobComputer:
    metrics = WorkerMetrics(CollectorRegistry())
    guard = GpuGuard.create(lambda *a, **k: None, metrics=metrics)
    computer = WindowComputer(maxdim, backend="cpu")
    return JobComputer(computer, guard, metrics)


def test_only_small_cpu_jobs_are_computed_on_the_event_loop():
    light = job_computer(maxdim=0)
    assert light.small(job_of(4, 128))  # a light-load micro-batch at maxdim 0
    assert light.small(job_of(200, 128))  # one at half the maximum rate
    assert light.small(Job())  # nothing due (checkpoints only)
    assert not light.small(job_of(2000, 128))  # a busy worker's full batch: to the thread
    assert not light.small(job_of(2, 128, backend="gpu"))
    assert job_computer(maxdim=1).small(job_of(1, 128))
    assert not job_computer(maxdim=1).small(job_of(1, 256))  # one such window is enough
    assert not job_computer(maxdim=1).small(job_of(8, 128))


async def test_inline_and_threaded_compute_give_the_same_diagrams_equal_to_ripser():
    computer = job_computer(maxdim=0)
    job = job_of(3, 24, seed=5)
    assert computer.small(job)
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def traced(job: Job):
        threads.append(threading.get_ident())
        return computer(job)

    inline = traced(job)
    threaded = await asyncio.to_thread(traced, job)
    assert threads[0] == loop_thread and threads[1] != loop_thread
    for a, b in zip(inline.values, threaded.values, strict=True):
        doc_a, doc_b = orjson.loads(a), orjson.loads(b)
        for timing in ("emitted_ts", "compute_ms"):
            doc_a.pop(timing), doc_b.pop(timing)
        assert doc_a == doc_b
    for window, diagram in zip(job.due, inline.diagrams, strict=True):
        assert_same_diagrams(diagram.diagrams, ripser_diagrams(window.points, maxdim=0))


async def test_the_compute_thread_goes_on_with_waiting_jobs_while_the_loop_is_busy():
    """Jobs queued behind a threaded job are computed one after another on the thread, even
    while the event loop runs a long callback; results still go out in submission order, and
    a small job behind them is computed on the loop."""
    loop_thread = threading.get_ident()
    computed: list[tuple[int, int, float]] = []  # (job id, thread, start)
    committed: list[int] = []

    def compute(job: Job) -> Computed:
        computed.append((job.checkpoints[0]["id"], threading.get_ident(), time.perf_counter()))
        if job.records >= 100:
            time.sleep(0.05)  # a long kernel, outside the GIL
        return Computed(job, [], [])

    async def commit(checkpoints):
        committed.extend(doc["id"] for doc in checkpoints)

    metrics = WorkerMetrics(CollectorRegistry())
    pipeline = Pipeline(
        compute,
        Publisher(None, "out", "dlq", metrics),  # nothing to publish: no diagrams
        commit,
        metrics=metrics,
        tracer=BatchTracer(),
        pause=InputPause(metrics),
        max_inflight=8,
        max_batch_records=150,  # no two of these jobs merge
        inline=lambda job: job.records < 100,
    )
    pipeline.start()
    try:
        for ident in range(3):
            await pipeline.submit(Job(records=100, checkpoints=[{"id": ident}]))
        await asyncio.sleep(0.01)  # job 0 is on the thread; 1 and 2 wait
        time.sleep(0.2)  # the loop is busy meanwhile
        unblocked = time.perf_counter()
        await pipeline.submit(Job(records=1, checkpoints=[{"id": 3}]))
        await asyncio.wait_for(pipeline.drain(), 5)
    finally:
        await pipeline.stop()
    assert [ident for ident, _, _ in computed] == [0, 1, 2, 3]
    assert committed == [0, 1, 2, 3]
    threaded = computed[:3]
    assert all(thread != loop_thread for _, thread, _ in threaded)
    assert all(start < unblocked for _, _, start in threaded)  # no wait for the loop
    assert computed[3][1] == loop_thread
