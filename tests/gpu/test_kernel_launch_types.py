"""The engine launches each CUDA kernel with the argument types of ``tests/cuda_launches``.

Those are the types ``tests/kernels/test_cuda_ptx.py`` compiles for real GPUs; recording them
here, from the engine's own launches, keeps that table true to the code.
"""

from __future__ import annotations

import collections

import numba
import numpy as np
import pytest
from numba.core import sigutils

from gpu_tda import gpu_engine
from gpu_tda.streaming.device_ring import DeviceRingBuffers
from tests.cuda_launches import LAUNCHES

pytestmark = pytest.mark.gpu_sim


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[tuple[numba.types.Type, ...]]]:
    """kernel name -> the argument types of its launches (device functions left out)."""
    from numba.cuda.simulator import kernel

    seen: dict[str, set[tuple[numba.types.Type, ...]]] = collections.defaultdict(set)
    launch = kernel.FakeCUDAKernel.__call__

    def record(self, *args):
        if not self._device:
            name = f"{self.fn.__module__}.{self.fn.__name__}"
            seen[name].add(tuple(numba.typeof(arg) for arg in args))
        return launch(self, *args)

    monkeypatch.setattr(kernel.FakeCUDAKernel, "__call__", record)
    return seen


def test_kernels_are_launched_with_the_tabled_types(launches, rng):
    clouds = [rng.normal(size=(n, 2)) for n in (6, 9, 9)]
    for maxdim in (0, 1):
        for threshold in (np.inf, 0.8):
            gpu_engine.persistence_many(clouds, maxdim, threshold, False, None)
    dist = [np.linalg.norm(c[:, None] - c[None], axis=-1) for c in clouds]
    gpu_engine.persistence_many(dist, 1, np.inf, True, None)
    rings = DeviceRingBuffers(capacity=6, dim=2, slots=3)
    rings.append_many(np.array([0, 1, 2, 0, 1, 2, 0, 0]), rng.normal(size=(8, 2)))
    rings.gather(np.array([0, 1]), np.array([0, 0]), 2)

    assert set(launches) == set(LAUNCHES), "a kernel was not launched, or is not in the table"
    for name, signature in LAUNCHES.items():
        args, _ = sigutils.normalize_signature(signature)
        assert launches[name] == {tuple(args)}, name
