"""The worker process's set-up: what its log shows."""

from __future__ import annotations

import warnings

from gpu_tda.streaming.runner import configure_logging


def test_worker_logging_silences_numba_cuda_low_occupancy_warnings():
    """The GPU engine launches one block per window, so a micro-batch of a few windows is a
    small grid on purpose: numba-cuda's warning for it (once per grid size, with terminal
    colour codes, as seen on an H200) is silenced; other warnings still show."""
    grid = (
        "\x1b[1mGrid size 3 will likely result in GPU under-utilization due to low "
        "occupancy.\x1b[0m"
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        configure_logging("INFO")
        warnings.warn(grid, RuntimeWarning, stacklevel=1)
        warnings.warn("a window was dropped", RuntimeWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["a window was dropped"]
