"""The worker's compute stage: which jobs run on the event loop, and that both ways give the same
encoded diagrams, equal to ripser's."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from gpu_tda.metrics import WorkerMetrics
from gpu_tda.streaming.batch import WindowComputer
from gpu_tda.streaming.breakers import GpuGuard
from gpu_tda.streaming.compute_stage import JobComputer
from gpu_tda.streaming.intake import Job
from gpu_tda.streaming.ring_buffer import DueWindow
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
