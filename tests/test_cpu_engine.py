"""The CPU engine's batching: how a batch is split over threads (its results are checked
against ripser in test_persistence_vs_ripser and test_api)."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_tda import cpu_engine
from gpu_tda.api import persistence


class _Pools:
    """Counts the thread pools the engine starts (then lets it start them)."""

    def __init__(self, real: type) -> None:
        self.real = real
        self.started = 0

    def __call__(self, *args, **kwargs):
        self.started += 1
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(
    ("windows", "n", "maxdim", "pools"),
    [
        (4, 128, 0, 0),  # a few windows: less work than starting a pool
        (2, 40, 1, 0),
        (400, 128, 0, 1),  # enough work to split over the cores
        (4, 128, 1, 1),
    ],
)
def test_small_batches_run_on_the_calling_thread(monkeypatch, windows, n, maxdim, pools):
    rng = np.random.default_rng(windows)
    clouds = [rng.normal(size=(n, 3)) for _ in range(windows)]
    counter = _Pools(cpu_engine.ThreadPoolExecutor)
    monkeypatch.setattr(cpu_engine, "ThreadPoolExecutor", counter)
    monkeypatch.setattr(cpu_engine.os, "cpu_count", lambda: 2)
    got = cpu_engine.persistence_many(clouds, maxdim, np.inf, False, None)
    assert counter.started == pools
    for cloud, dgms in zip(clouds, got, strict=True):
        alone = persistence(cloud, maxdim=maxdim, backend="cpu")
        for mine, single in zip(dgms, alone, strict=True):
            np.testing.assert_array_equal(mine, single)
