"""Run the GPU code path on the CPU: numba's CUDA simulator, numpy standing in for CuPy.

numba reads NUMBA_ENABLE_CUDASIM once per process (when numba is first imported), and with it
set the "gpu" backend is usable, so ``backend="auto"`` would move every other test onto the
simulator. So the simulator is switched on only when this session runs nothing but tests/gpu
(``pytest tests/gpu``), or when the caller already set the variable; in a mixed session these
tests are skipped with a note saying how to run them.
"""

from __future__ import annotations

import os
import pathlib
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
_ACTIVE = pytest.StashKey[bool]()
_SKIP_REASON = (
    "the CUDA-simulator tests run in their own session: `pytest tests/gpu` "
    "(or NUMBA_ENABLE_CUDASIM=1 for the whole run)"
)


def _only_gpu_tests(config: pytest.Config) -> bool:
    args = [a.split("::")[0] for a in config.args if not a.startswith("-")]
    if not args:
        return False
    root = pathlib.Path(config.invocation_params.dir)
    return all(HERE in [(root / a).resolve(), *(root / a).resolve().parents] for a in args)


def _switch_on_simulator() -> bool:
    """Set NUMBA_ENABLE_CUDASIM before numba.cuda is imported; False if it is too late."""
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    if "numba.cuda" in sys.modules:
        from numba import config

        return bool(config.ENABLE_CUDASIM)
    if "numba" in sys.modules:  # numba read its environment already: read it again
        from numba.core import config

        config.reload_config()
    return True


def pytest_configure(config: pytest.Config) -> None:
    already = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
    active = (already or _only_gpu_tests(config)) and _switch_on_simulator()
    config.stash[_ACTIVE] = active


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash.get(_ACTIVE, False):
        return
    skip = pytest.mark.skip(reason=_SKIP_REASON)
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator per test."""
    return np.random.default_rng(20261126)


@pytest.fixture
def make_clouds(rng: np.random.Generator):
    """Factory: ``make_clouds(sizes, dim=2, kind="circle")`` -> list of float64 point clouds."""

    def make(sizes: list[int], dim: int = 2, kind: str = "circle") -> list[np.ndarray]:
        clouds = []
        for n in sizes:
            if kind == "circle":
                theta = rng.uniform(0, 2 * np.pi, n)
                ring = np.column_stack((np.cos(theta), np.sin(theta)))
                pts = np.zeros((n, dim))
                pts[:, : min(dim, 2)] = ring[:, : min(dim, 2)]
                pts += rng.normal(scale=0.1, size=(n, dim))
            elif kind == "grid":  # exact ties
                side = int(np.ceil(n ** (1 / dim)))
                axes = np.meshgrid(*[np.arange(side)] * dim, indexing="ij")
                pts = np.column_stack([a.ravel() for a in axes])[:n].astype(np.float64)
            else:
                pts = rng.uniform(size=(n, dim))
            clouds.append(pts)
        return clouds

    return make
