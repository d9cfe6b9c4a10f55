"""Windows that already live on the GPU (CuPy arrays, CUDA torch tensors) as API input."""

from __future__ import annotations

import numpy as np
import pytest

import gpu_tda
from gpu_tda import cpu_engine
from gpu_tda.gpu_engine import default_engine
from tests.diagram_oracle import assert_identical_results

pytestmark = pytest.mark.gpu_sim


class DeviceArray:
    """An array as CuPy and torch hand one over, through ``__cuda_array_interface__``; under
    the simulator, where numpy stands in for CuPy, its memory is a numpy array's."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data

    @property
    def __cuda_array_interface__(self) -> dict:
        return {
            "shape": self._data.shape,
            "typestr": self._data.dtype.str,
            "data": (self._data.ctypes.data, False),
            "version": 3,
        }

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)


def device_batches() -> int:
    return default_engine().stats.device_batches


def test_a_device_batch_goes_straight_to_the_gpu_engine(make_clouds):
    batch = np.stack(make_clouds([12] * 3)).astype(np.float32)
    before = device_batches()
    ours = gpu_tda.persistence_batch(DeviceArray(batch), maxdim=1, backend="gpu")
    assert device_batches() == before + 1  # one device batch, no per-window host path
    expected = cpu_engine.persistence_many(list(batch.astype(np.float64)), 1, np.inf, False, None)
    assert_identical_results(ours, expected)


def test_one_device_window_equals_the_host_window(make_clouds):
    (cloud,) = make_clouds([14])
    ours = gpu_tda.persistence(DeviceArray(cloud), maxdim=1, threshold=0.9, backend="gpu")
    assert_identical_results([ours], [gpu_tda.persistence(cloud, 1, 0.9, backend="cpu")])


def test_the_cpu_backend_and_distance_matrices_copy_a_device_array_to_the_host(make_clouds):
    clouds = make_clouds([10, 10])
    before = device_batches()
    on_cpu = gpu_tda.persistence_batch(DeviceArray(np.stack(clouds)), maxdim=1, backend="cpu")
    assert device_batches() == before
    assert_identical_results(on_cpu, cpu_engine.persistence_many(clouds, 1, np.inf, False, None))
    dist = np.sqrt(((clouds[0][:, None] - clouds[0][None]) ** 2).sum(-1))
    ours = gpu_tda.persistence(DeviceArray(dist), maxdim=1, distance_matrix=True, backend="gpu")
    assert_identical_results([ours], [gpu_tda.persistence(dist, 1, distance_matrix=True)])


def test_bad_device_input_is_refused_like_host_input(make_clouds):
    batch = np.stack(make_clouds([8, 8]))
    batch[1, 2, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"Xs\[1\] contains NaN or inf \(first at row 2, column 0\)"
    ):
        gpu_tda.persistence_batch(DeviceArray(batch), backend="gpu")
    with pytest.raises(ValueError, match=r"Xs must be a 3-D array, got shape \(8, 2\)"):
        gpu_tda.persistence_batch(DeviceArray(batch[0]), backend="gpu")
    with pytest.raises(ValueError, match=r"X must be a 2-D array, got shape \(2, 8, 2\)"):
        gpu_tda.persistence(DeviceArray(batch), backend="gpu")
    with pytest.raises(ValueError, match="must be a numeric array"):
        gpu_tda.persistence_batch(DeviceArray(batch.astype(bool)), backend="gpu")
    with pytest.raises(ValueError, match="memory_limit must be a positive number"):
        gpu_tda.persistence(DeviceArray(batch[0]), backend="gpu", memory_limit=0)
