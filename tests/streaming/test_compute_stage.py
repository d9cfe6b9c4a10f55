"""The worker's compute stage: which jobs run on the event loop, that both ways give the same
encoded diagrams, equal to ripser's, and that the compute thread does not wait for the loop."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from gpu_tda import cpu_engine
from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.backpressure import InputPause
from gpu_tda.streaming.batch import WindowComputer
from gpu_tda.streaming.breakers import GpuGuard
from gpu_tda.streaming.compute_stage import Computed, JobComputer
from gpu_tda.streaming.diagram import decode_diagram
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


def job_computer(maxdim: int, threshold: float = np.inf, direct_cpu: bool = True) -> JobComputer:
    metrics = WorkerMetrics(CollectorRegistry())
    guard = GpuGuard.create(lambda *a, **k: None, metrics=metrics)
    computer = WindowComputer(maxdim, threshold, backend="cpu")
    return JobComputer(computer, guard, metrics, direct_cpu=direct_cpu)


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
    for window, value in zip(job.due, inline.values, strict=True):
        assert_same_diagrams(decode_diagram(value).diagrams, ripser_diagrams(window.points, 0))


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


def varied_job(seed: int) -> Job:
    """CPU windows of two scales (several chunks when split), degenerate ones among them (one
    point, duplicates, collinear), some without partition, offsets or timestamps."""
    rng = np.random.default_rng(seed)
    specs = (WindowSpec(24, 8), WindowSpec(40, 8))
    clouds = [rng.normal(size=(specs[i % 2].size, 3)) for i in range(40)]
    clouds[3] = np.repeat(rng.normal(size=(1, 3)), 24, axis=0)  # one point, 24 times
    clouds[5] = np.outer(np.arange(24.0) % 5, [1.0, 2.0, 0.0])  # collinear, duplicated
    clouds[6] = rng.normal(size=(1, 3))  # a lone point (the processor's partial windows)
    due = [
        DueWindow(
            f"s-{i % 7}",
            specs[i % 2],
            i,
            cloud,
            -1 if i % 5 == 0 else 100 + i,  # NO_VALUE: unknown
            -1 if i % 5 == 0 else 100 + i + len(cloud),
            -1 if i % 3 == 0 else 1764190000000 + i,
            1764190000100 + i,
            None if i % 4 == 0 else i % 4,
        )
        for i, cloud in enumerate(clouds)
    ]
    return Job(records=len(due), points=len(due) * 8, due=due, backends=["cpu"] * len(due))


def without_timing(value: bytes) -> dict:
    doc = orjson.loads(value)
    doc.pop("emitted_ts"), doc.pop("compute_ms")
    return doc


@pytest.mark.parametrize(("maxdim", "threshold"), [(0, np.inf), (1, np.inf), (1, 1.5), (2, np.inf)])
@pytest.mark.parametrize("split", [False, True])
def test_direct_cpu_documents_equal_those_through_the_window_computer(
    monkeypatch, maxdim, threshold, split
):
    """The direct path (each engine thread writes its chunk's documents) publishes exactly
    what computing WindowDiagrams and encoding them publishes, and that is ripser's."""
    monkeypatch.setattr(cpu_engine, "SMALL_BATCH_COST", 0 if split else 1 << 60)
    monkeypatch.setattr(cpu_engine, "_cpu_count", lambda: 3)
    job = varied_job(seed=maxdim)
    started_ms = int(time.time() * 1000)
    direct = job_computer(maxdim, threshold)(job)
    through = job_computer(maxdim, threshold, direct_cpu=False)(job)
    assert direct.backends == through.backends == ["cpu"] * len(job.due)
    assert [without_timing(v) for v in direct.values] == [without_timing(v) for v in through.values]
    for window, value in zip(job.due, direct.values, strict=True):
        doc = orjson.loads(value)
        assert started_ms <= doc["emitted_ts"] <= int(time.time() * 1000)
        assert doc["compute_ms"] >= 0
        assert (doc["window"]["partition"] is None) == (window.partition is None)
        assert_same_diagrams(
            decode_diagram(value).diagrams,
            ripser_diagrams(window.points, maxdim, threshold),
        )
