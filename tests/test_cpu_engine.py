"""The CPU engine's batching: how a batch is split over threads (its results are checked
against ripser in test_persistence_vs_ripser and test_api)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from gpu_tda import cpu_engine
from gpu_tda.api import persistence


class _Helpers:
    """Counts the chunks the engine hands to its helper threads (then runs them there)."""

    def __init__(self, real) -> None:
        self.real = real
        self.submitted = 0

    def __call__(self, count: int) -> _Helpers:
        self.pool = self.real(count)
        return self

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return self.pool.submit(*args, **kwargs)


@pytest.mark.parametrize(
    ("windows", "n", "maxdim", "helpers"),
    [
        (4, 128, 0, 0),  # a few windows: less work than handing a chunk to a helper
        (2, 40, 1, 0),
        (400, 128, 0, 1),  # enough work to split over the cores
        (4, 128, 1, 1),
    ],
)
def test_small_batches_run_on_the_calling_thread(monkeypatch, windows, n, maxdim, helpers):
    rng = np.random.default_rng(windows)
    clouds = [rng.normal(size=(n, 3)) for _ in range(windows)]
    counter = _Helpers(cpu_engine._helper_threads)
    monkeypatch.setattr(cpu_engine, "_helper_threads", counter)
    monkeypatch.setattr(cpu_engine, "_cpu_count", lambda: 2)
    got = cpu_engine.persistence_many(clouds, maxdim, np.inf, False, None)
    assert counter.submitted == helpers
    for cloud, dgms in zip(clouds, got, strict=True):
        alone = persistence(cloud, maxdim=maxdim, backend="cpu")
        for mine, single in zip(dgms, alone, strict=True):
            np.testing.assert_array_equal(mine, single)


def test_helper_threads_are_started_once_and_reused():
    rng = np.random.default_rng(5)
    clouds = [rng.normal(size=(128, 3)) for _ in range(400)]
    first = cpu_engine.persistence_many(clouds, 0, np.inf, False, None, n_threads=3)
    names = {t.name for t in threading.enumerate() if t.name.startswith("gpu-tda-cpu")}
    second = cpu_engine.persistence_many(clouds, 0, np.inf, False, None, n_threads=3)
    assert {t.name for t in threading.enumerate() if t.name.startswith("gpu-tda-cpu")} == names
    assert 1 <= len(names) <= 2  # two helpers at most beside the calling thread
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])


def test_each_chunk_is_finished_on_the_thread_that_computed_it(monkeypatch):
    """``persistence_chunks`` hands every chunk's bars to ``finish`` on its own thread (the
    calling thread takes one): each window once, its bars those of ``persistence``."""
    monkeypatch.setattr(cpu_engine, "_cpu_count", lambda: 3)
    rng = np.random.default_rng(9)
    clouds = [rng.normal(size=(n, 2)) for n in (128, 40, 128, 3, 128, 90) * 20]
    computing: dict[int, int] = {}
    real_run = cpu_engine._run_chunk

    def run_chunk(windows, *args):
        computing[id(windows[0])] = threading.get_ident()
        return real_run(windows, *args)

    monkeypatch.setattr(cpu_engine, "_run_chunk", run_chunk)

    def finish(bars: cpu_engine.ChunkBars):
        assert computing[id(clouds[bars.windows[0]])] == threading.get_ident()
        assert bars.counts.shape == (len(bars.windows), 2) and bars.seconds >= 0
        return threading.get_ident(), cpu_engine._split(bars.counts, bars.births, bars.deaths)

    chunks = cpu_engine.persistence_chunks(clouds, 1, np.inf, False, None, finish)
    assert len(chunks) == 3
    assert sorted(i for windows, _ in chunks for i in windows) == list(range(len(clouds)))
    assert chunks[0][1][0] == threading.get_ident()  # the calling thread's chunk comes first
    assert all(thread != threading.get_ident() for _, (thread, _) in chunks[1:])
    for windows, (_, diagrams) in chunks:
        for i, dgms in zip(windows, diagrams, strict=True):
            alone = persistence(clouds[i], maxdim=1, backend="cpu")
            for mine, single in zip(dgms, alone, strict=True):
                np.testing.assert_array_equal(mine, single)


# Three processes, each compiling a part of the maxdim-2 path into one empty cache, then the third
# running maxdim-1 batches and one maxdim-2 window: while the kernels had a parallel mode (numba's
# threads, for a lone window) the second call segfaulted when its code came from that cache
# (numba issues 8578, 10128). The clouds are those of the reproduction.
_CACHE_STEPS = (
    """
import numpy as np
from gpu_tda.kernels.distances import pairwise_distances
from gpu_tda.kernels.rips import rips_from_distances
rng = np.random.default_rng(1)
rng.normal(size=(200, 128, 3)); rng.normal(size=(40, 256, 3)); rng.random((1, 1024, 3))
rips_from_distances(pairwise_distances(rng.random((256, 3))), 2, np.float32(np.inf))
""",
    """
import numpy as np, gpu_tda
rng = np.random.default_rng(1)
rng.normal(size=(200, 128, 3)); rng.normal(size=(40, 256, 3)); rng.random((1, 1024, 3))
gpu_tda.persistence_batch(rng.random((1, 256, 3)), maxdim=2, backend="cpu")
""",
    """
import numpy as np, gpu_tda
rng = np.random.default_rng(1)
for clouds, maxdim in ((rng.normal(size=(200, 128, 3)), 1), (rng.normal(size=(40, 256, 3)), 1),
                       (rng.random((1, 1024, 3)), 1), (rng.random((1, 256, 3)), 2)):
    gpu_tda.persistence_batch(clouds[:1], maxdim=maxdim, backend="cpu")
    gpu_tda.persistence_batch(clouds, maxdim=maxdim, backend="cpu")
""",
)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_cache_written_by_several_processes_runs(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for step, code in enumerate(_CACHE_STEPS):
        done = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"step {step}: {done.returncode}\n{done.stderr[-3000:]}"
